"""Audit-specific metrics (labels: topic and reason codes only - never record content)."""
from __future__ import annotations

from prometheus_client import Counter, Gauge

CHECKPOINTS = Counter("uf_audit_checkpoints_total", "Checkpoints signed and stored", ["topic"])
CHECKPOINT_FAILURES = Counter("uf_audit_checkpoint_failures_total", "Checkpoint store/publish attempts that failed", ["stage"])
SIGNATURE_FAILURES = Counter("uf_audit_signature_failures_total", "Records failing the topic's signature policy at ingestion",
                             ["topic", "reason"])
LAST_CHECKPOINT = Gauge("uf_audit_last_checkpoint_timestamp_seconds", "When the newest checkpoint of a partition was stored",
                        ["topic", "partition"])
UNATTESTED_AGE = Gauge("uf_audit_oldest_unattested_seconds", "How long the oldest record not yet covered by a checkpoint has waited "
                       "(the audit trail's lag)", ["topic", "partition"])
UNATTESTED = Gauge("uf_audit_unattested_records", "Records read but not yet covered by a checkpoint", ["topic", "partition"])

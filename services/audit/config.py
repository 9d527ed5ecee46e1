"""Audit settings (UF_* environment variables)."""
from __future__ import annotations

from services.kit.runtime import service_table as table
from services.kit.runtime.config import ServiceSettings


class AuditSettings(ServiceSettings):
    service_name: str = "audit"
    http_port: int = table.SERVICES["audit"].http_port
    es_index: str = "uf-audit-events"  # the READ ALIAS over monthly indices uf-audit-events-YYYY.MM
    consumer_group: str = "uf-audit"
    retention_sweep_s: float = 5.0  # how often subjects past their retention deadline are erased
    # tamper evidence
    checkpoint_topic: str = "uf.audit.checkpoints"
    checkpoint_index: str = "uf-audit-checkpoints"
    checkpoint_every: int = 100          # records per checkpoint (per partition) ...
    checkpoint_interval_s: float = 5.0   # ... or this long after the first unattested record
    # Topics chained and checkpointed besides the declared ones (not projected): scratch topics
    # a test or an operator wants tamper evidence for. Empty = none.
    extra_topic_pattern: str = r"^uf\.scratch\.audit\..+"
    topic_refresh_s: float = 5.0
    policy_file: str = ""  # per-topic signature policy (YAML); default: sigpolicy.DEFAULT_RULES

"""Building event records: the envelope every event carries, and deterministic ids so a
retried handler emits the *same* event (consumers de-duplicate by event_id)."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from services.kit.contracts.catalog import default_catalog

_NS = uuid.UUID("6f1c2a52-3f1e-4c43-9a0e-8f7a1f0b9d11")


@dataclass(frozen=True)
class Origin:
    """Who emitted an event (service, version, colour): stamped on every envelope. Not a Kafka
    producer."""

    service: str
    version: str
    colour: str

    def as_record(self) -> dict[str, str]:
        return {"service": self.service, "version": self.version, "colour": self.colour}


def stable_id(*parts: str) -> str:
    """UUIDv5 of the parts: same inputs, same id - the basis of idempotent re-emission."""
    return str(uuid.uuid5(_NS, "\x1f".join(parts)))


def now_ms() -> int:
    return int(time.time() * 1000)


def make_event(
    event_type: str,
    *,
    origin: Origin,
    workflow_id: str,
    session_id: str,
    correlation_id: str,
    causation_id: str | None = None,
    event_id: str | None = None,
    occurred_at: int | None = None,
    **fields: Any,
) -> dict[str, Any]:
    envelope = {
        "event_id": event_id or str(uuid.uuid4()),
        "event_type": event_type,
        "workflow_id": workflow_id,
        "session_id": session_id,
        "occurred_at": occurred_at if occurred_at is not None else now_ms(),
        "producer": origin.as_record(),  # the schema's envelope field keeps its name
        "causation_id": causation_id,
        "correlation_id": correlation_id,
        "schema_version": default_catalog().latest(event_type).version,
        "encrypted_fields": [],
    }
    return {"envelope": envelope, **fields}


def caused_by(parent: dict[str, Any]) -> dict[str, Any]:
    """Envelope fields a follow-up event inherits from the event that caused it."""
    env = parent["envelope"]
    return {
        "workflow_id": env["workflow_id"],
        "session_id": env["session_id"],
        "correlation_id": env["correlation_id"],
        "causation_id": env["event_id"],
    }

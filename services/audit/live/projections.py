"""The audit projections: the searchable trail in OpenSearch (one document per event, id =
event id, so re-processing is idempotent; monthly indices behind the read alias) and each
workflow's current state in Redis.

Only fields the schemas do not mark as PII reach these long-lived stores.

The Redis state is *order-insensitive*: a phase change only overwrites the current phase if
its log position is later than the one recorded (`phase_pos`), so the live projector and a
replay, or a redelivery, can apply events in any order and end in the same state."""
from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis
from aiokafka import ConsumerRecord
from opensearchpy import AsyncOpenSearch

from services.audit.live import es_layout
from services.audit.live.projection_gate import ProjectionGate
from services.kit.contracts.catalog import default_catalog, strip_pii
from services.kit.contracts.codec import Decoded
from services.kit.contracts.keys import AUDIT_PROGRESS_CHANNEL, LIVE_PREFIX, history_key, wf_key

# KEYS: state hash, history hash. ARGV: position, workflow id, phase, updated_at, reason, event id, entry JSON
_PHASE_LUA = """
local cur = redis.call('HGET', KEYS[1], 'phase_pos')
if (not cur) or cur < ARGV[1] then
  redis.call('HSET', KEYS[1], 'workflow_id', ARGV[2], 'phase', ARGV[3], 'updated_at', ARGV[4], 'reason', ARGV[5], 'phase_pos', ARGV[1])
end
redis.call('HSET', KEYS[2], ARGV[6], ARGV[7])
return 1
"""

# A parked workflow: recorded with its own position, shown as waiting while it is later in the
# log than the last phase change. KEYS: state hash. ARGV: position, target, reason, next attempt, attempt
_WAITING_LUA = """
local cur = redis.call('HGET', KEYS[1], 'waiting_pos')
if (not cur) or cur < ARGV[1] then
  redis.call('HSET', KEYS[1], 'waiting_pos', ARGV[1], 'waiting_target', ARGV[2], 'waiting_reason', ARGV[3],
             'next_attempt_at', ARGV[4], 'waiting_attempt', ARGV[5])
end
return 1
"""


def summarize(event_type: str, data: dict[str, Any]) -> str:
    """One readable line per event for the timeline (PII-free: built from stripped data)."""
    try:
        return _summary(event_type, data)
    except (KeyError, TypeError, ValueError):
        return event_type


def _summary(event_type: str, data: dict[str, Any]) -> str:
    if event_type == "WorkflowPhaseChanged":
        return f"{data.get('from_phase') or 'START'} -> {data['to_phase']}: {data.get('reason', '')}"
    if event_type == "ValidationDecided":
        verdict = "ALLOW" if data["allowed"] else "DENY"
        return f"{verdict} {data.get('from_phase') or 'START'} -> {data['to_phase']} (policy {data['policy_version']})"
    if event_type == "AgentTaskAssigned":
        return f"task for {data['agent']} in {data['phase']}"
    if event_type == "AgentTaskCompleted":
        return f"{data['agent']} {'succeeded' if data['ok'] else 'failed'} in {data['phase']}"
    if event_type == "ReviewDecided":
        statement = json.loads(data["attestation"]) if data.get("attestation") else None
        attested = "" if statement is None else f" (attested content {statement['content']['record_sha256'][:16]}" + (
            f", policy {statement['policy_version']})" if statement.get("policy_version") else ")")
        return f"review {'approved' if data['approved'] else 'rejected'} by {data['reviewer_id']}{attested}"
    if event_type == "DeliveryRequested":
        return f"delivery {data['delivery_id']} requested for subject {data['subject_id']}"
    if event_type == "DeliveryOutcome":
        approved = f" (approved content {data['approved_content_sha256'][:16]})" if data.get("approved_content_sha256") else ""
        return f"delivery {data['delivery_id']} {data['status']}{' (duplicate confirmed)' if data.get('duplicate') else ''}{approved}"
    if event_type == "WorkflowWaiting":
        return f"waiting to enter {data['target_phase']} (attempt {data['attempt']}): {data.get('reason', '')}"
    if event_type == "WorkflowRequested":
        return f"requested by {data['requester_id']} for {data['purpose']}: {len(data.get('contacts', []))} contact(s)"
    return event_type


def subject_ids(value: Any, found: set[str] | None = None, depth: int = 0) -> set[str]:
    """Every `subject_id` field in a (PII-stripped) record: the pseudonyms an event concerns."""
    found = set() if found is None else found
    if depth > 8:
        return found
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "subject_id" and isinstance(v, str) and v:
                found.add(v)
            else:
                subject_ids(v, found, depth + 1)
    elif isinstance(value, list):
        for v in value:
            subject_ids(v, found, depth + 1)
    return found


def document(decoded: Decoded, msg: ConsumerRecord) -> dict[str, Any]:
    data = strip_pii(decoded.record, default_catalog().latest(decoded.event_type).pii_paths)
    env = data.pop("envelope")
    return {
        "event_id": env["event_id"], "event_type": decoded.event_type, "workflow_id": env["workflow_id"],
        "session_id": env["session_id"], "correlation_id": env["correlation_id"], "causation_id": env["causation_id"],
        "subject_ids": sorted(subject_ids(data)),
        "occurred_at": env["occurred_at"], "producer": env["producer"], "topic": msg.topic,
        "partition": msg.partition, "offset": msg.offset, "phase": data.get("to_phase") or data.get("phase"),
        "summary": summarize(decoded.event_type, data), "data": data,
    }


def with_subject_ids(doc: dict[str, Any]) -> dict[str, Any]:
    """Fill `subject_ids` on a document written before the field existed (index migration)."""
    if "subject_ids" not in doc:
        doc = {**doc, "subject_ids": sorted(subject_ids(doc.get("data") or {}))}
    return doc


def redis_ops(pipe: Any, doc: dict[str, Any], prefix: str = LIVE_PREFIX) -> None:
    """Queue the Redis state changes of one event on a pipeline (live or replay namespace)."""
    wf = doc["workflow_id"]
    if doc["event_type"] == "WorkflowRequested":
        pipe.hsetnx(wf_key(wf, prefix), "phase", "REQUESTED")
        pipe.hset(wf_key(wf, prefix), mapping={"workflow_id": wf, "session_id": doc["session_id"],
                                               "requester_id": doc["data"]["requester_id"]})
    elif doc["event_type"] == "WorkflowPhaseChanged":
        d = doc["data"]
        entry = {"from": d.get("from_phase"), "phase": d["to_phase"], "at": doc["occurred_at"],
                 "reason": d.get("reason", ""), "decision_id": d.get("decision_id"), "event_id": doc["event_id"]}
        args = [f"{doc['offset']:020d}", wf, d["to_phase"], str(doc["occurred_at"]), d.get("reason", ""),
                doc["event_id"], json.dumps(entry)]
        keys = [wf_key(wf, prefix), history_key(wf, prefix)]
        pipe.eval(_PHASE_LUA, 2, *keys, *args)  # EVAL, not EVALSHA: survives a Redis script flush
    elif doc["event_type"] == "WorkflowWaiting":
        d = doc["data"]
        pipe.eval(_WAITING_LUA, 1, wf_key(wf, prefix), f"{doc['offset']:020d}", d["target_phase"], d.get("reason", ""),
                  str(d["next_attempt_at"]), str(d["attempt"]))


def touches_redis(event_type: str) -> bool:
    return event_type in ("WorkflowRequested", "WorkflowPhaseChanged", "WorkflowWaiting")


class AuditProjector:
    """Documents are buffered per consumer poll (`project`) and written by `flush` - one
    OpenSearch `_bulk` request and one Redis MULTI per poll instead of one of each per event,
    before the poll's offsets are committed (so at-least-once is unchanged). The trail becomes
    searchable within the index refresh interval (`es_layout.SETTINGS`); nothing on this path
    forces a refresh, so readers of the timeline wait for a condition, not for this service."""

    def __init__(self, es: AsyncOpenSearch, redis: aioredis.Redis, index: str, gate: ProjectionGate | None = None) -> None:
        self.es, self.redis, self.index = es, redis, index  # `index` is the read alias
        self.gate = gate
        self._known: set[str] = set()
        self._pending: list[tuple[dict[str, Any], ConsumerRecord]] = []

    async def ensure_index(self) -> None:
        """Template, one-time move of an old concrete index behind the alias, current month."""
        await es_layout.ensure_template(self.es, self.index)
        await es_layout.migrate_concrete_index(self.es, self.index, with_subject_ids)
        gen = await self.gate_generation()
        if not await es_layout.alias_indices(self.es, self.index):
            await es_layout.ensure_index(self.es, es_layout.index_name(self.index, _now_ms(), gen), self.index)
        # Indices created before the refresh interval/durability changed keep their own settings: align them.
        await self.es.indices.put_settings(index=self.index, body={"index": {
            "refresh_interval": es_layout.SETTINGS["refresh_interval"], **es_layout.DURABILITY}})

    async def gate_generation(self) -> int:
        if self.gate is None:
            return 0
        await self.gate.refresh()
        return self.gate.generation

    async def _index_for(self, doc: dict[str, Any], generation: int) -> str:
        name = es_layout.index_name(self.index, doc["occurred_at"], generation)
        if name not in self._known:
            await es_layout.ensure_index(self.es, name, self.index)
            self._known.add(name)
        return name

    async def project(self, decoded: Decoded, msg: ConsumerRecord) -> None:
        """Build the document (bad records fail here, per record) and queue it for `flush`."""
        self._pending.append((document(decoded, msg), msg))

    async def flush(self) -> list[tuple[ConsumerRecord, str]]:
        """Write the queued documents: ES first, then Redis (readers that see a phase in Redis
        then read the trail find it there once refreshed). Returns the records OpenSearch
        refused for good (4xx other than 429), to be dead-lettered; raises on anything
        transient so the caller retries the whole poll (writes are idempotent by event id)."""
        if not self._pending:
            return []
        pending = list(self._pending)
        generation = await self.gate.enter() if self.gate else 0
        try:
            body: list[dict[str, Any]] = []
            for doc, _ in pending:
                body.append({"index": {"_index": await self._index_for(doc, generation), "_id": doc["event_id"]}})
                body.append(doc)
            res = await self.es.bulk(body=body)
            refused: list[tuple[ConsumerRecord, str]] = []
            if res.get("errors"):
                for (_doc, msg), item in zip(pending, res["items"]):
                    status = item.get("index", {}).get("status", 500)
                    if status == 429 or status >= 500:
                        raise EsBulkRetry(f"bulk item status {status}")
                    if status >= 400:
                        refused.append((msg, f"opensearch-refused-{status}"))
            refused_ids = {id(m) for m, _ in refused}
            kept = [doc for doc, msg in pending if id(msg) not in refused_ids]
            changed = sorted({doc["workflow_id"] for doc in kept if touches_redis(doc["event_type"])})
            async with self.redis.pipeline(transaction=True) as pipe:
                for doc in kept:
                    if touches_redis(doc["event_type"]):
                        redis_ops(pipe, doc)
                if changed:  # wake the validator's audit gates waiting on these workflows
                    pipe.publish(AUDIT_PROGRESS_CHANNEL, " ".join(changed))
                await pipe.execute()
        finally:
            if self.gate:
                self.gate.leave()
        self._pending.clear()
        return refused


class EsBulkRetry(Exception):
    """OpenSearch pushed back (429) or failed (5xx) on part of a bulk: retry the poll."""


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)

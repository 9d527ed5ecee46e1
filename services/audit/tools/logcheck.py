"""A workflow's phase history read from the signed log itself, for readers that must not trust
a projection (`ufctl status`, `ufctl audit report`): Redis and OpenSearch can be rewritten by
anyone who reaches them; a phase change on `uf.workflow.events` counts only if it carries a
valid signature by its declared producer (kit.security.admission).

Reads the one partition the workflow's key maps to (the producers' default partitioner), from
its start to its current end: bounded, and proportional to that partition, not to the log."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from services.audit.evidence.hashing import content_hash
from services.kit.contracts import codec
from services.kit.contracts.topics import AGENT_RESULTS, WORKFLOW_EVENTS
from services.kit.messaging import logreader
from services.kit.security.admission import Refused, default_admission
from services.kit.security.attestation import ReviewedContent


class NotVerified(Exception):
    """The log could not be read (Kafka down, timeout): the caller says so plainly."""


async def _partition_of(consumer: AIOKafkaConsumer, topic: str, key: bytes) -> TopicPartition:
    """The partition a workflow's records go to (the producers' default partitioner)."""
    tps = await logreader.partitions_of(consumer, [topic])
    if not tps:
        raise NotVerified(f"topic {topic} not found")
    numbers = sorted(tp.partition for tp in tps)
    return TopicPartition(topic, DefaultPartitioner()(key, numbers, numbers))


@dataclass
class _Admitted:
    """What one read of a workflow's partition found: records that pass admission, and how many
    carried the workflow's key but were refused (unsigned, wrong signer, undecodable)."""
    records: list[tuple[ConsumerRecord, dict[str, Any]]] = field(default_factory=list)
    refused: int = 0


async def _admitted(bootstrap: str, topic: str, workflow_id: str, event_type: str, timeout_s: float) -> _Admitted:
    """Every record of `event_type` keyed by `workflow_id` on `topic` that passes admission, in log
    order: the workflow's one partition, from its start to its current end."""
    key = workflow_id.encode()
    gate = default_admission()
    consumer = logreader.new_consumer(bootstrap, request_timeout_ms=int(timeout_s * 1000))
    try:
        await consumer.start()
    except Exception as exc:
        await consumer.stop()
        raise NotVerified(f"cannot reach Kafka at {bootstrap} ({exc.__class__.__name__})") from None
    found = _Admitted()
    try:
        tp = await _partition_of(consumer, topic, key)
        _, end = await logreader.bounds(consumer, [tp])
        async for batch in logreader.read_batches(consumer, [tp], end=end, timeout_s=timeout_s):
            for m in batch.get(tp, []):
                if m.key != key:
                    continue
                try:
                    gate.admit(topic, m.key, m.value, m.headers, event_type)
                    found.records.append((m, codec.decode(m.value).record))
                except (Refused, codec.CodecError):
                    found.refused += 1
    except NotVerified:
        raise
    except Exception as exc:
        raise NotVerified(f"could not read the log to the end ({exc.__class__.__name__})") from None
    finally:
        await consumer.stop()
    return found


async def verified_history(bootstrap: str, workflow_id: str, timeout_s: float = 30.0) -> tuple[list[dict[str, Any]], int]:
    """(phase changes of the workflow that pass admission, in log order; records refused)."""
    found = await _admitted(bootstrap, WORKFLOW_EVENTS, workflow_id, "WorkflowPhaseChanged", timeout_s)
    history = [{"from": rec["from_phase"], "phase": rec["to_phase"], "at": rec["envelope"]["occurred_at"],
                "reason": rec["reason"], "decision_id": rec.get("decision_id"),
                "event_id": rec["envelope"]["event_id"], "causation_id": rec["envelope"]["causation_id"],
                "offset": m.offset} for m, rec in found.records]
    return history, found.refused


async def reviewed_content(bootstrap: str, workflow_id: str,
                           timeout_s: float = 30.0) -> tuple[ReviewedContent, dict[str, Any]] | None:
    """What a reviewer of `workflow_id` is deciding on, from the signed log: the generation
    result the workflow entered REVIEW with (the phase change's `causation_id`), as its position
    and content hash plus the decoded record (its emails sealed). None when the workflow is not
    in REVIEW according to the log. The first admitted copy counts (a redelivered result has the
    same event id and the orchestrator acted on the first)."""
    history, _ = await verified_history(bootstrap, workflow_id, timeout_s)
    if not history or history[-1]["phase"] != "REVIEW" or not history[-1]["causation_id"]:
        return None
    cause = history[-1]["causation_id"]
    for m, rec in (await _admitted(bootstrap, AGENT_RESULTS, workflow_id, "AgentTaskCompleted", timeout_s)).records:
        if rec["envelope"]["event_id"] == cause and rec["phase"] == "GENERATION" and rec["ok"]:
            digest = content_hash(m.timestamp, m.key, m.value, list(m.headers or ()))
            return ReviewedContent(AGENT_RESULTS, m.partition, m.offset, digest.hex()), rec
    raise NotVerified(f"the generation result {cause} that the workflow entered REVIEW with is not on the log")

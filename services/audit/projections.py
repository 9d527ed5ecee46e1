"""The audit projections: the searchable trail in Elasticsearch (one document per event, id =
event id, so re-processing is idempotent) and each workflow's current state in Redis.

Only fields the schemas do not mark as PII reach these long-lived stores."""
from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis
from aiokafka import ConsumerRecord
from elasticsearch import AsyncElasticsearch

from services.kit.catalog import default_catalog, strip_pii
from services.kit.codec import Decoded

MAPPING = {
    "dynamic": False,
    "properties": {
        "event_id": {"type": "keyword"},
        "event_type": {"type": "keyword"},
        "workflow_id": {"type": "keyword"},
        "session_id": {"type": "keyword"},
        "correlation_id": {"type": "keyword"},
        "causation_id": {"type": "keyword"},
        "occurred_at": {"type": "date", "format": "epoch_millis"},
        "producer": {"properties": {"service": {"type": "keyword"}, "version": {"type": "keyword"}, "colour": {"type": "keyword"}}},
        "topic": {"type": "keyword"},
        "partition": {"type": "integer"},
        "offset": {"type": "long"},
        "phase": {"type": "keyword"},
        "summary": {"type": "text"},
        "data": {"type": "object", "enabled": False},
    },
}


def wf_key(workflow_id: str) -> str:
    return f"uf:wf:{workflow_id}"


def history_key(workflow_id: str) -> str:
    return f"uf:wf:{workflow_id}:history"


def summarize(event_type: str, data: dict[str, Any]) -> str:
    """One readable line per event for the timeline (PII-free: built from stripped data)."""
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
        return f"review {'approved' if data['approved'] else 'rejected'} by {data['reviewer_id']}"
    if event_type == "DeliveryRequested":
        return f"delivery {data['delivery_id']} requested for subject {data['subject_id']}"
    if event_type == "DeliveryOutcome":
        return f"delivery {data['delivery_id']} {data['status']}{' (duplicate confirmed)' if data.get('duplicate') else ''}"
    if event_type == "WorkflowRequested":
        return f"requested by {data['requester_id']} for {data['purpose']}: {len(data.get('contacts', []))} contact(s)"
    return event_type


def document(decoded: Decoded, msg: ConsumerRecord) -> dict[str, Any]:
    data = strip_pii(decoded.record, default_catalog().latest(decoded.event_type).pii_paths)
    env = data.pop("envelope")
    return {
        "event_id": env["event_id"], "event_type": decoded.event_type, "workflow_id": env["workflow_id"],
        "session_id": env["session_id"], "correlation_id": env["correlation_id"], "causation_id": env["causation_id"],
        "occurred_at": env["occurred_at"], "producer": env["producer"], "topic": msg.topic,
        "partition": msg.partition, "offset": msg.offset, "phase": data.get("to_phase") or data.get("phase"),
        "summary": summarize(decoded.event_type, data), "data": data,
    }


class AuditProjector:
    def __init__(self, es: AsyncElasticsearch, redis: aioredis.Redis, index: str) -> None:
        self.es, self.redis, self.index = es, redis, index

    async def ensure_index(self) -> None:
        if not await self.es.indices.exists(index=self.index):
            await self.es.indices.create(index=self.index, body={"settings": {"number_of_shards": 1, "number_of_replicas": 0}, "mappings": MAPPING}, ignore=400)

    async def project(self, decoded: Decoded, msg: ConsumerRecord) -> None:
        doc = document(decoded, msg)
        await self.es.index(index=self.index, id=doc["event_id"], body=doc)
        wf = doc["workflow_id"]
        if decoded.event_type == "WorkflowRequested":
            await self.redis.hsetnx(wf_key(wf), "phase", "REQUESTED")
            await self.redis.hset(wf_key(wf), mapping={"workflow_id": wf, "session_id": doc["session_id"],
                                                       "requester_id": doc["data"]["requester_id"]})
        elif decoded.event_type == "WorkflowPhaseChanged":
            d = doc["data"]
            entry = {"from": d.get("from_phase"), "phase": d["to_phase"], "at": doc["occurred_at"],
                     "reason": d.get("reason", ""), "decision_id": d.get("decision_id"), "event_id": doc["event_id"]}
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(wf_key(wf), mapping={"workflow_id": wf, "phase": d["to_phase"], "updated_at": str(doc["occurred_at"]),
                                               "reason": d.get("reason", "")})
                pipe.hset(history_key(wf), doc["event_id"], json.dumps(entry))
                await pipe.execute()

"""Out-of-band homes of the checkpoints: Redis (what the service resumes from; also read by the
verifier) and OpenSearch (searchable, second copy). The Kafka topic is the third copy.

Write order, so a crash never loses or forks a checkpoint: Redis first (MULTI: the checkpoint,
the partition's head, and an "unpublished" mark), then OpenSearch and Kafka, then the mark is
cleared. On start the service re-sends whatever is still marked (same bytes: idempotent)."""
from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis
from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import NotFoundError

from services.audit.evidence.checkpoint import Checkpoint
from services.kit.contracts.keys import CHECKPOINT_HEADS as HEADS
from services.kit.contracts.keys import CHECKPOINT_UNPUBLISHED as UNPUBLISHED
from services.kit.contracts.keys import checkpoint_key as partition_key

MAX_SCAN = 1_000_000  # bound on checkpoints read per partition

CHECKPOINT_MAPPING = {
    "dynamic": False,
    "properties": {
        "checkpoint_id": {"type": "keyword"}, "checkpoint_hash": {"type": "keyword"},
        "topic": {"type": "keyword"}, "partition": {"type": "integer"}, "seq": {"type": "long"},
        "first_offset": {"type": "long"}, "last_offset": {"type": "long"}, "record_count": {"type": "integer"},
        "merkle_root": {"type": "keyword"}, "chain_head": {"type": "keyword"},
        "prev_chain_head": {"type": "keyword", "index": False}, "prev_checkpoint_hash": {"type": "keyword", "index": False},
        "manifest_sha256": {"type": "keyword", "index": False}, "manifest": {"type": "binary"},
        "created_at": {"type": "date", "format": "epoch_millis"}, "key_id": {"type": "keyword"},
        "signature": {"type": "keyword", "index": False},
    },
}


# KEYS: partition hash, heads, unpublished. ARGV: seq, doc, tp field, checkpoint id
_SAVE_LUA = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[4])
return 1
"""


class CheckpointConflict(Exception):
    """A checkpoint with that seq already exists: the writer's idea of the chain is stale."""


def _tp_field(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


def _parse(raw: bytes | str) -> Checkpoint | None:
    try:
        return Checkpoint.from_json(json.loads(raw))
    except (ValueError, KeyError, TypeError):
        return None  # a corrupted stored copy is reported by the verifier, never crashes a reader


class CheckpointStore:
    def __init__(self, redis: aioredis.Redis, es: AsyncOpenSearch | None, index: str) -> None:
        self.redis, self.es, self.index = redis, es, index

    async def ensure_index(self) -> None:
        if self.es is not None and not await self.es.indices.exists(index=self.index):
            await self.es.indices.create(index=self.index, ignore=400, body={
                "settings": {"number_of_shards": 1, "number_of_replicas": 0}, "mappings": CHECKPOINT_MAPPING})

    async def save_redis(self, cp: Checkpoint) -> None:
        """Store atomically - and never over an existing checkpoint of the same seq (that would
        rewrite history): raises CheckpointConflict instead."""
        doc = json.dumps(cp.to_json(), separators=(",", ":"))
        done = await self.redis.eval(_SAVE_LUA, 3, partition_key(cp.topic, cp.partition), HEADS, UNPUBLISHED,
                                     str(cp.seq), doc, _tp_field(cp.topic, cp.partition), cp.checkpoint_id)
        if not int(done):
            raise CheckpointConflict(f"checkpoint {cp.seq} of a partition already stored")

    async def head(self, topic: str, partition: int) -> Checkpoint | None:
        raw = await self.redis.hget(HEADS, _tp_field(topic, partition))
        return _parse(raw) if raw else None

    async def save_es(self, cp: Checkpoint) -> None:
        if self.es is not None:
            await self.es.index(index=self.index, id=cp.checkpoint_id, body=cp.to_json())

    async def mark_published(self, cp: Checkpoint) -> None:
        await self.redis.srem(UNPUBLISHED, cp.checkpoint_id)

    async def heads(self) -> dict[tuple[str, int], Checkpoint]:
        out: dict[tuple[str, int], Checkpoint] = {}
        for _field, raw in (await self.redis.hgetall(HEADS)).items():
            cp = _parse(raw)
            if cp is not None:
                out[(cp.topic, cp.partition)] = cp
        return out

    async def unpublished(self) -> list[Checkpoint]:
        out = []
        for cid in await self.redis.smembers(UNPUBLISHED):
            topic, partition, seq = cid.decode().rsplit(":", 2)
            raw = await self.redis.hget(partition_key(topic, int(partition)), seq)
            cp = _parse(raw) if raw else None
            if cp is not None:
                out.append(cp)
            else:
                await self.redis.srem(UNPUBLISHED, cid)
        return sorted(out, key=lambda c: (c.topic, c.partition, c.seq))

    async def unpublished_ids(self) -> set[str]:
        return {c.decode() for c in await self.redis.smembers(UNPUBLISHED)}

    async def refresh_es(self) -> None:
        """Make just-written checkpoints searchable (the verifier reads the ES copy)."""
        if self.es is not None:
            await self.es.indices.refresh(index=self.index, ignore=[404])

    async def partitions(self) -> list[tuple[str, int]]:
        """Every (topic, partition) with at least one stored checkpoint."""
        out = []
        for field in await self.redis.hkeys(HEADS):
            topic, partition = field.decode().rsplit(":", 1)
            out.append((topic, int(partition)))
        return sorted(out)

    async def redis_checkpoints(self, topic: str, partition: int) -> tuple[list[Checkpoint], list[str]]:
        """(checkpoints by seq, problems: unparseable entries)."""
        raw = await self.redis.hgetall(partition_key(topic, partition))
        out, problems = [], []
        for seq, doc in sorted(raw.items(), key=lambda kv: int(kv[0]))[:MAX_SCAN]:
            cp = _parse(doc)
            if cp is None or cp.seq != int(seq):
                problems.append(f"stored checkpoint seq {int(seq)} unreadable in Redis")
            else:
                out.append(cp)
        return out, problems

    async def es_checkpoints(self, topic: str, partition: int) -> list[Checkpoint] | None:
        """Checkpoints in OpenSearch (None when the engine or the index is unavailable)."""
        if self.es is None:
            return None
        out: list[Checkpoint] = []
        search_after: list[Any] | None = None
        try:
            for _ in range(MAX_SCAN // 1000):
                body: dict[str, Any] = {
                    "query": {"bool": {"filter": [{"term": {"topic": topic}}, {"term": {"partition": partition}}]}},
                    "sort": [{"seq": "asc"}]}
                if search_after:
                    body["search_after"] = search_after
                res = await self.es.search(index=self.index, size=1000, body=body)
                hits = res["hits"]["hits"]
                for h in hits:
                    try:
                        out.append(Checkpoint.from_json(h["_source"]))
                    except (ValueError, KeyError, TypeError):
                        continue
                if len(hits) < 1000:
                    break
                search_after = hits[-1]["sort"]
        except NotFoundError:
            return None
        return out

    async def find(self, topic: str, partition: int, offset: int) -> Checkpoint | None:
        """The checkpoint whose range holds `offset` (Redis copy)."""
        cps, _ = await self.redis_checkpoints(topic, partition)
        for cp in cps:
            if cp.first_offset <= offset <= cp.last_offset:
                return cp
        return None

    async def forget_topic(self, topic: str) -> None:
        """Drop every stored checkpoint of a topic (scratch topics a test deleted)."""
        for t, p in await self.partitions():
            if t == topic:
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.delete(partition_key(t, p))
                    pipe.hdel(HEADS, _tp_field(t, p))
                    await pipe.execute()
        for cid in await self.redis.smembers(UNPUBLISHED):
            if cid.decode().rsplit(":", 2)[0] == topic:
                await self.redis.srem(UNPUBLISHED, cid)
        if self.es is not None:
            await self.es.delete_by_query(index=self.index, body={"query": {"term": {"topic": topic}}},
                                          refresh=True, conflicts="proceed", ignore=[404])

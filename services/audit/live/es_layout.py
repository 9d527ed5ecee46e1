"""Where the OpenSearch trail lives: monthly indices `<alias>-YYYY.MM` (after a replay:
`<alias>-YYYY.MM-r<N>`) behind the read alias `<alias>` (default `uf-audit-events`), all
created from one index template with explicit mappings. Readers only ever use the alias, so a
rebuilt generation is swapped in with one atomic `_aliases` call."""
from __future__ import annotations

import logging
import time
from typing import Any

from opensearchpy import AsyncOpenSearch
from opensearchpy.helpers import async_bulk, async_scan

log = logging.getLogger(__name__)

MAPPING: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "event_id": {"type": "keyword"},
        "event_type": {"type": "keyword"},
        "workflow_id": {"type": "keyword"},
        "session_id": {"type": "keyword"},
        "correlation_id": {"type": "keyword"},
        "causation_id": {"type": "keyword"},
        "subject_ids": {"type": "keyword"},  # pseudonymous data-subject ids the event concerns
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
# An explicit refresh interval: an index with the default one goes "search idle" after 30 s
# without searches and then skips refreshes, so a reader right after a write could see nothing.
# 5 s (was 250 ms, then 1 s): every refresh writes a new Lucene segment and later merges it,
# which made the search engine the most expensive process of the suite per workflow (issue 11).
# Nothing waits for a refresh on the write path - the audit gates read Redis - so the search trail
# (`ufctl audit report`, the timeline) shows an event within 5 s; readers wait on a condition.
#
# Translog fsync every 5 s instead of per bulk request (`async`). What still holds: a bulk the
# search engine acknowledged survives a crash of its process (the translog is written, only not
# yet fsynced); an OS crash or power loss can lose up to the last 5 s of *projected* documents.
# The trail itself is not the index: it is the Kafka log (acks=all, hash-chained, checkpointed),
# and `audit verify` names documents missing from the projection (drift) that `audit replay`
# rebuilds. The validator's audit gates read the Redis projection, not this index.
DURABILITY = {"translog.durability": "async", "translog.sync_interval": "5s"}
SETTINGS = {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "5s", **DURABILITY}


def month_of(ms: int) -> str:
    return time.strftime("%Y.%m", time.gmtime(max(0, int(ms)) / 1000))


def index_name(alias: str, occurred_at_ms: int, generation: int) -> str:
    base = f"{alias}-{month_of(occurred_at_ms)}"
    return base if generation == 0 else f"{base}-r{generation}"


def generation_of(index: str) -> int:
    tail = index.rsplit("-", 1)[-1]
    return int(tail[1:]) if tail.startswith("r") and tail[1:].isdigit() else 0


async def ensure_template(es: AsyncOpenSearch, alias: str) -> None:
    await es.indices.put_index_template(name=alias, body={
        "index_patterns": [f"{alias}-*"], "priority": 100,
        "template": {"settings": SETTINGS, "mappings": MAPPING},
        "_meta": {"owner": "services/audit", "why": "explicit mappings: keyword ids, epoch-millis dates, no PII"}})


async def alias_indices(es: AsyncOpenSearch, alias: str) -> list[str]:
    """Indices currently behind the read alias ([] if none)."""
    # looked up among the trail's own indices: the search engine's roles give the audit service
    # (and the CLI) nothing else, and an alias lookup over all indices is refused (403)
    if not await es.indices.exists_alias(name=alias, index=f"{alias}*"):
        return []
    return sorted(await es.indices.get_alias(name=alias, index=f"{alias}*"))


async def ensure_index(es: AsyncOpenSearch, index: str, alias: str | None, refresh_interval: str | None = None) -> None:
    """Create `index` (template mappings) if missing; `alias` given = put it behind the read alias."""
    if await es.indices.exists(index=index):
        return
    body: dict[str, Any] = {}
    if alias:
        body["aliases"] = {alias: {}}
    if refresh_interval:
        body["settings"] = {"refresh_interval": refresh_interval}
    await es.indices.create(index=index, ignore=400, body=body)  # 400: created concurrently


async def migrate_concrete_index(es: AsyncOpenSearch, alias: str, doc_fixup=None) -> int:
    """One-time move from the old single index named like the alias to monthly indices behind the
    alias. Copies every document, then in ONE `_aliases` call adds the alias and removes the old
    index, so readers see either the old index or the complete new layout. Returns docs moved."""
    if not await es.indices.exists(index=alias) or await es.indices.exists_alias(name=alias, index=f"{alias}*"):
        return 0
    moved, created = 0, set()

    async def actions():
        nonlocal moved
        async for hit in async_scan(es, index=alias, query={"query": {"match_all": {}}}, size=1000):
            src = hit["_source"]
            if doc_fixup:
                src = doc_fixup(src)
            target = index_name(alias, src.get("occurred_at") or 0, 0)
            if target not in created:
                await ensure_index(es, target, None)
                created.add(target)
            moved += 1
            yield {"_index": target, "_id": hit["_id"], "_source": src}

    await async_bulk(es, actions(), chunk_size=1000, refresh=True)
    if not created:
        created.add(index_name(alias, int(time.time() * 1000), 0))
        await ensure_index(es, next(iter(created)), None)
    await es.indices.update_aliases(body={"actions": [
        *({"add": {"index": i, "alias": alias}} for i in sorted(created)), {"remove_index": {"index": alias}}]})
    log.info("audit index moved behind alias", extra={"documents": moved, "indices": len(created)})
    return moved


async def swap_alias(es: AsyncOpenSearch, alias: str, new_indices: list[str]) -> list[str]:
    """Point the alias at exactly `new_indices`, atomically. Returns the indices it left."""
    old = await alias_indices(es, alias)
    actions = [{"remove": {"index": i, "alias": alias}} for i in old if i not in new_indices]
    actions += [{"add": {"index": i, "alias": alias}} for i in new_indices]
    if actions:
        await es.indices.update_aliases(body={"actions": actions})
    return [i for i in old if i not in new_indices]

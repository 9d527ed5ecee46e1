"""Audit service: consumes every audited topic into Elasticsearch (searchable trail) and Redis
(current state of each workflow)."""
from __future__ import annotations

from contextlib import AsyncExitStack

import redis.asyncio as aioredis
from elasticsearch import AsyncElasticsearch

from services.audit.config import AuditSettings
from services.audit.projections import AuditProjector
from services.kit import topics
from services.kit.app import run_service
from services.kit.bus import ConsumeLoop, start_producer
from services.kit.ops import OpsServer

NOT_AUDITED = {topics.DEAD_LETTER, topics.ORCHESTRATOR_STATE}  # raw bytes / internal state, not events


def audited_topics() -> list[str]:
    return sorted(t for t in topics.load_topics() if t not in NOT_AUDITED)


async def body(settings: AuditSettings, ops: OpsServer, stack: AsyncExitStack):
    redis = aioredis.from_url(settings.redis_url)
    stack.push_async_callback(redis.aclose)
    es = AsyncElasticsearch([settings.es_url])
    stack.push_async_callback(es.close)
    projector = AuditProjector(es, redis, settings.es_index)
    await projector.ensure_index()
    kafka = await start_producer(settings.kafka_bootstrap)
    stack.push_async_callback(kafka.stop)
    loop = ConsumeLoop(service=settings.service_name, bootstrap=settings.kafka_bootstrap, group_id=settings.consumer_group,
                       topics=audited_topics(), handler=projector.project, producer=kafka)
    await loop.start()
    stack.push_async_callback(loop.stop)

    async def es_ready() -> None:
        await es.cluster.health(wait_for_status="yellow", timeout="1s")

    async def redis_ready() -> None:
        await redis.ping()

    ops.add_check("elasticsearch", es_ready)
    ops.add_check("redis", redis_ready)
    ops.add_check("kafka", loop.ready)
    return [loop.run()]


def main() -> None:
    run_service(AuditSettings(), body)


if __name__ == "__main__":
    main()

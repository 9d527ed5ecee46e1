"""Audit service: consumes every audited topic into OpenSearch (searchable trail, monthly
indices behind a read alias) and Redis (current state of each workflow), and - with its own
reader - chains every audited partition and publishes signed Merkle checkpoints."""
from __future__ import annotations

from contextlib import AsyncExitStack

import redis.asyncio as aioredis
from aiokafka import ConsumerRecord

from services.audit.config import AuditSettings
from services.audit.evidence.sigpolicy import load_policy
from services.audit.live.checkpoint_store import CheckpointStore
from services.audit.live.checkpointer import Checkpointer
from services.audit.live.erasure import PersistenceScrub, apply_erasure
from services.audit.live.projection_gate import ProjectionGate
from services.audit.live.projections import AuditProjector
from services.audit.live.retention import run_retention
from services.kit.contracts import topics
from services.kit.contracts.codec import Decoded
from services.kit.contracts.events import Origin
from services.kit.messaging.bus import ConsumeLoop, start_producer
from services.kit.messaging.fetch_linger import FetchLinger
from services.kit.runtime.app import run_service
from services.kit.runtime.ops import OpsServer
from services.kit.security import redis_auth, search_auth
from services.kit.security.signing import TrustStore, load_signer
from services.kit.security.subject_keys import RedisKeyStore


async def body(settings: AuditSettings, ops: OpsServer, stack: AsyncExitStack):
    redis = aioredis.from_url(settings.redis_url, **redis_auth.credentials())
    stack.push_async_callback(redis.aclose)
    es = search_auth.async_client(settings.es_url)
    stack.push_async_callback(es.close)
    gate = ProjectionGate(redis)
    projector = AuditProjector(es, redis, settings.es_index, gate)
    await projector.ensure_index()
    store = CheckpointStore(redis, es, settings.checkpoint_index)
    await store.ensure_index()
    kafka = await start_producer(settings.kafka_bootstrap)
    stack.push_async_callback(kafka.stop)
    keys = RedisKeyStore(settings.redis_url)
    me = Origin(settings.service_name, settings.version, settings.colour)
    scrub = PersistenceScrub(redis)

    async def project(decoded: Decoded, msg: ConsumerRecord) -> None:
        """Recorded erasures take effect (and get their receipt) before they are projected."""
        if decoded.event_type == "SubjectErased":
            await apply_erasure(decoded, keys, kafka, me)
            scrub.mark()
        await projector.project(decoded, msg)

    loop = ConsumeLoop(service=settings.service_name, bootstrap=settings.kafka_bootstrap, group_id=settings.consumer_group,
                       topics=topics.audited_topics(), handler=project, producer=kafka,
                       flush=projector.flush, linger=FetchLinger())  # one poll per ~50 ms while events flow
    await loop.start()
    stack.push_async_callback(loop.stop)
    checkpointer = Checkpointer(
        bootstrap=settings.kafka_bootstrap, store=store, producer=kafka, signer=load_signer(settings.service_name),
        me=Origin(settings.service_name, settings.version, settings.colour), checkpoint_topic=settings.checkpoint_topic,
        every=settings.checkpoint_every, interval_s=settings.checkpoint_interval_s,
        extra_pattern=settings.extra_topic_pattern, refresh_s=settings.topic_refresh_s,
        policy=load_policy(settings.policy_file or None), trust=TrustStore())
    await checkpointer.start()
    stack.push_async_callback(checkpointer.stop)

    async def es_ready() -> None:
        # request_timeout must be given: opensearch-py 2.x otherwise takes the server-side `timeout`
        # ("1s") as the socket timeout and fails (opensearch-py#387).
        await es.cluster.health(wait_for_status="yellow", timeout="1s", request_timeout=5)

    async def redis_ready() -> None:
        await redis.ping()

    ops.add_check("opensearch", es_ready)
    ops.add_check("redis", redis_ready)
    ops.add_check("kafka", loop.ready)
    ops.add_check("checkpointer", checkpointer.ready)
    retention = run_retention(keys, kafka, me, settings.retention_sweep_s)
    return [loop.run(), checkpointer.run(), gate.run(), retention, scrub.run()]


def main() -> None:
    run_service(AuditSettings(), body)


if __name__ == "__main__":
    main()

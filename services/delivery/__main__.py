"""Delivery service: sends each rendered email once through SMTP and confirms it."""
from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import redis.asyncio as aioredis

from services.delivery.config import DeliverySettings
from services.delivery.sender import DeliverySender
from services.kit.contracts import topics
from services.kit.contracts.events import Origin
from services.kit.messaging.bus import ConsumeLoop, start_producer
from services.kit.messaging.retry import Backoff
from services.kit.runtime.app import run_service
from services.kit.runtime.ops import OpsServer, redis_check
from services.kit.security import redis_auth
from services.kit.security.subject_keys import RedisKeyStore


async def body(settings: DeliverySettings, ops: OpsServer, stack: AsyncExitStack):
    redis = aioredis.from_url(settings.redis_url, **redis_auth.credentials())
    stack.push_async_callback(redis.aclose)
    kafka = await start_producer(settings.kafka_bootstrap)
    stack.push_async_callback(kafka.stop)
    sender = DeliverySender(settings, redis, kafka, Origin(settings.service_name, settings.version, settings.colour),
                            RedisKeyStore(settings.redis_url, cached=True))
    stack.callback(sender.smtp.close)
    stack.push_async_callback(sender.approved.close)
    loop = ConsumeLoop(service=settings.service_name, bootstrap=settings.kafka_bootstrap, group_id=settings.consumer_group,
                       topics=[topics.DELIVERY_REQUESTS], handler=sender.deliver, producer=kafka, flush=sender.outbox.flush,
                       backoff=Backoff(base_s=1.0, cap_s=settings.smtp_retry_cap_s))
    await sender.beat()  # alive before the first claim
    await loop.start()
    stack.push_async_callback(loop.stop)

    async def smtp_ready() -> None:
        _, writer = await asyncio.open_connection(settings.smtp_host, settings.smtp_port)
        writer.close()

    ops.add_check("redis", redis_check(redis))
    ops.add_check("smtp", smtp_ready)
    ops.add_check("kafka", loop.ready)
    return [loop.run(), sender.heartbeat()]


def main() -> None:
    run_service(DeliverySettings(), body)


if __name__ == "__main__":
    main()

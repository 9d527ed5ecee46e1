"""Validator service: the fail-closed state validator behind gRPC."""
from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import redis.asyncio as aioredis

from services.kit.contracts import topics
from services.kit.contracts.events import Origin
from services.kit.messaging.bus import start_producer
from services.kit.messaging.projection import RedisProjection
from services.kit.rpc import validator_pb2_grpc
from services.kit.runtime import grpc_roles
from services.kit.runtime.app import run_service
from services.kit.runtime.ops import OpsServer, redis_check
from services.kit.security import redis_auth
from services.kit.security.jwt_tokens import TokenVerifier, load_key
from services.validator.audit_progress import AuditProgress
from services.validator.config import ValidatorSettings
from services.validator.deps import Dependencies
from services.validator.pii_client import PiiClient
from services.validator.policy.loader import PolicyLibrary
from services.validator.policy.manager import PolicyManager
from services.validator.servicer import ValidatorServicer
from services.validator.state_guard import StateGuard
from services.validator.store import FactStore, project


async def body(settings: ValidatorSettings, ops: OpsServer, stack: AsyncExitStack):
    # A bounded pool that makes callers wait for a free connection (the default pool raises
    # MaxConnectionsError under a burst, which became a denial).
    redis = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=settings.redis_max_connections, timeout=settings.decision_deadline_s, **redis_auth.credentials()))
    stack.push_async_callback(redis.aclose)
    kafka = await start_producer(settings.kafka_bootstrap, linger_ms=0)
    stack.push_async_callback(kafka.stop)
    projection = RedisProjection(name="validator", service=settings.service_name, bootstrap=settings.kafka_bootstrap,
                                 redis=redis, topics=[topics.SESSIONS, topics.CONSENT, topics.POLICY, topics.GDPR], apply=project,
                                 dlq_producer=kafka)
    await projection.start()
    stack.push_async_callback(projection.stop)
    pii = PiiClient(settings.pii_addr, settings.pii_timeout_s, identity=settings.service_name)
    stack.push_async_callback(pii.close)
    policies = PolicyManager(PolicyLibrary(Path(settings.policy_dir)), redis, settings.policy_default)
    audit_progress = AuditProgress(redis)
    deps = Dependencies(store=FactStore(redis), barrier=lambda: projection.caught_up(settings.barrier_timeout_s),
                        pii=pii, tokens=TokenVerifier(load_key(create=True)), audit_progress=audit_progress)
    servicer = ValidatorServicer(policies=policies, deps=deps, kafka=kafka,
                                 origin=Origin(settings.service_name, settings.version, settings.colour),
                                 deadline_s=settings.decision_deadline_s, max_concurrent=settings.max_concurrent_decisions,
                                 admission_wait_s=settings.admission_wait_s, guard=StateGuard(redis))
    grpc_server = await grpc_roles.serve(stack, lambda s: validator_pb2_grpc.add_ValidatorServicer_to_server(servicer, s),
                                         service=settings.service_name, host=settings.grpc_host, port=settings.grpc_port,
                                         preview_port=settings.grpc_preview_port)

    async def projection_ready() -> None:
        if not await projection.caught_up(1.0):
            raise RuntimeError("projection lagging")

    ops.add_check("redis", redis_check(redis))
    ops.add_check("projection", projection_ready)
    ops.add_check("audit-progress", audit_progress.ready)
    return [projection.run(), policies.watch(), audit_progress.run(), grpc_server.run()]


def main() -> None:
    run_service(ValidatorSettings(), body)


if __name__ == "__main__":
    main()

"""Orchestrator service: drives every workflow through the phase machine, and runs the agent
plug-ins for the work phases."""
from __future__ import annotations

from contextlib import AsyncExitStack

from services.kit.contracts import topics
from services.kit.contracts.events import Origin
from services.kit.messaging.bus import ConsumeLoop, start_producer
from services.kit.runtime.app import run_service
from services.kit.runtime.ops import OpsServer
from services.kit.security.subject_keys import RedisKeyStore
from services.orchestrator.agent_runner import make_task_handler
from services.orchestrator.agents.registry import selection
from services.orchestrator.circuit import CircuitBreaker
from services.orchestrator.config import OrchestratorSettings
from services.orchestrator.processor import Processor
from services.orchestrator.validation import ValidatorClient
from services.orchestrator.workflow import WorkflowEngine


async def body(settings: OrchestratorSettings, ops: OpsServer, stack: AsyncExitStack):
    me = Origin(settings.service_name, settings.version, settings.colour)
    keys = RedisKeyStore(settings.redis_url, cached=True)
    validator = ValidatorClient(settings.validator_addr, settings.validator_timeout_s, settings.validator_attempts,
                                identity=settings.service_name,
                                breaker=CircuitBreaker("validator", settings.circuit_threshold, settings.circuit_cooldown_s),
                                concurrency=settings.validator_concurrency, channels=settings.validator_channels)
    stack.push_async_callback(validator.close)
    await validator.warm()
    # One transactional id per input partition, the same for every instance and every colour:
    # whichever instance owns partition N uses `<group>-pN` and so fences the previous owner -
    # after a rebalance, a crash or a blue-green hand-over (ADR 0009, ADR 0008).
    processor = Processor(bootstrap=settings.kafka_bootstrap, group_id=settings.consumer_group,
                          transactional_prefix=settings.consumer_group,
                          engine=WorkflowEngine(me, keys, validator, agents=selection(settings), budget_s=settings.park_budget_s),
                          max_in_flight=settings.max_in_flight)
    await processor.start()
    stack.push_async_callback(processor.stop)
    kafka = await start_producer(settings.kafka_bootstrap)
    stack.push_async_callback(kafka.stop)
    agents = ConsumeLoop(service="agents", bootstrap=settings.kafka_bootstrap, group_id=settings.agents_group,
                         topics=[topics.AGENT_TASKS], handler=make_task_handler(kafka, me, keys), producer=kafka)
    await agents.start()
    stack.push_async_callback(agents.stop)
    ops.add_check("workflow-state", processor.check_ready)
    ops.add_check("agent-runner", agents.ready)
    return [processor.run(), agents.run()]


def main() -> None:
    run_service(OrchestratorSettings(), body)


if __name__ == "__main__":
    main()

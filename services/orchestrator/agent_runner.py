"""Runs agent tasks: consume AgentTaskAssigned, call the plug-in, emit AgentTaskCompleted.
At-least-once; the result's event id is derived from the task id, so a re-run is recognised."""
from __future__ import annotations

import asyncio
import json
import logging

from aiokafka import AIOKafkaProducer, ConsumerRecord

from services.kit.contracts import topics
from services.kit.contracts.codec import Decoded
from services.kit.contracts.events import Origin, caused_by, make_event, stable_id
from services.kit.messaging.bus import publish
from services.kit.messaging.retry import dependency_of
from services.kit.security.sealing import blob_subjects, open_blob, seal_blob
from services.kit.security.subject_keys import KeyStore
from services.orchestrator.agents.base import AgentError
from services.orchestrator.agents.registry import AGENTS

log = logging.getLogger(__name__)


def make_task_handler(kafka: AIOKafkaProducer, origin: Origin, keys: KeyStore):
    """Agents see clear values (opened from the task's sealed tokens); their output is sealed
    again before it leaves, so agent topics never carry clear PII."""

    async def run_agent_task(decoded: Decoded, _: ConsumerRecord) -> None:
        task = decoded.record
        ok, output, error = True, "{}", ""
        agent = AGENTS.find(task["agent"])
        try:
            if agent is None:
                raise AgentError(f"agent {task['agent']!r} is not installed")
            sealed = json.loads(task["input_json"])
            await keys.warm(blob_subjects(sealed))
            task_input = open_blob(keys, sealed)
            result = await asyncio.to_thread(agent.run, task_input)
            output = json.dumps(seal_blob(keys, result))
        except AgentError as exc:
            ok, error = False, str(exc)
        except Exception as exc:  # a plug-in bug fails the workflow, not the runner
            if dependency_of(exc) is not None:
                raise  # the key store (or another dependency) is away: the task waits, it is not a failure
            ok, error = False, f"agent crashed: {exc.__class__.__name__}"
            log.exception("agent crashed", extra={"agent": task["agent"], "phase": task["phase"]})
        await publish(kafka, topics.AGENT_RESULTS, make_event(
            "AgentTaskCompleted", origin=origin, **caused_by(task),
            event_id=stable_id(task["task_id"], "result"), task_id=task["task_id"], phase=task["phase"],
            agent=task["agent"], ok=ok, output_json=output, error=error))

    return run_agent_task

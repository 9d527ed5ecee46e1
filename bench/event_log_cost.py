"""CPU of one `event handled` log line as the services write it (the kit's JSON handler with the
privacy filter, `services/kit/runtime/logs.py`), output to /dev/null. Unlike `bench/pii_log_ab.py`
(distinct values in every line) the lines repeat like a consumer's do: a few handler names and
event types, each workflow id on ~14 consecutive lines.

    nice .venv/bin/python bench/event_log_cost.py [LINES]
"""
from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.kit.runtime.logs import configure_logging

TYPES = ("WorkflowPhaseChanged", "ValidationDecided", "AgentTaskAssigned", "AgentTaskCompleted", "DeliveryRequested")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    configure_logging("audit")
    handler = logging.getLogger().handlers[0]
    handler.stream = open(os.devnull, "w")  # type: ignore[attr-defined]
    log = logging.getLogger("services.kit.messaging.bus")
    workflows = [f"wf-bench-abc123-{i}" for i in range(200)]
    log.info("warm-up", extra={"handler": "project", "event_type": "X", "workflow_id": "wf-x"})
    started = time.process_time()
    for i in range(n):
        log.info("event handled", extra={"handler": "project", "event_type": TYPES[i % len(TYPES)],
                                         "workflow_id": workflows[(i // 14) % len(workflows)]})
    print(f"{(time.process_time() - started) * 1e6 / n:.1f} us CPU per 'event handled' line ({n} lines)")


if __name__ == "__main__":
    main()

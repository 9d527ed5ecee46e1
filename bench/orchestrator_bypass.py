"""The orchestrator with validation bypassed - exists ONLY for bench/validation.py, to measure
what compliance costs. Every transition is allowed without asking the validator."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.orchestrator import __main__ as orchestrator
from services.orchestrator import validation


class AllowEverything:
    def __init__(self, *args, **kwargs) -> None:
        pass

    async def warm(self, timeout_s: float = 2.0) -> None:
        pass  # nothing to connect to (the real client opens its gRPC channels here)

    async def validate(self, request) -> validation.Verdict:
        return validation.Verdict(True, "bypassed (benchmark only)", decision_id=None)

    async def close(self) -> None:
        pass


orchestrator.ValidatorClient = AllowEverything  # type: ignore[misc,assignment]

if __name__ == "__main__":
    orchestrator.main()

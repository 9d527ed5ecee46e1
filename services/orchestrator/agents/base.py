"""The agent contract. An agent is a pure function of its input: the same task gives the same
result, so a redelivered task is harmless."""
from __future__ import annotations

from typing import Any, Protocol


class AgentError(Exception):
    """The agent refuses its input; the workflow fails with this reason (no values in it)."""


class Agent(Protocol):
    name: str
    phase: str

    def run(self, task_input: dict[str, Any]) -> dict[str, Any]: ...

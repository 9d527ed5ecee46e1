"""The workflow phase machine, shared by the orchestrator (which drives it) and the validator
(which refuses anything the machine does not allow)."""
from __future__ import annotations

from enum import Enum


class Phase(str, Enum):
    INITIALIZATION = "INITIALIZATION"
    BATCH_DISCOVERY = "BATCH_DISCOVERY"
    STRATEGY_ANALYSIS = "STRATEGY_ANALYSIS"
    GENERATION = "GENERATION"
    REVIEW = "REVIEW"
    DELIVERY = "DELIVERY"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"


HAPPY_PATH: tuple[Phase, ...] = (
    Phase.INITIALIZATION, Phase.BATCH_DISCOVERY, Phase.STRATEGY_ANALYSIS,
    Phase.GENERATION, Phase.REVIEW, Phase.DELIVERY, Phase.COMPLETED,
)
TERMINAL = frozenset({Phase.COMPLETED, Phase.FAILED, Phase.REJECTED, Phase.CANCELLED})
# Phases whose work an agent plug-in does.
AGENT_PHASES = frozenset({Phase.BATCH_DISCOVERY, Phase.STRATEGY_ANALYSIS, Phase.GENERATION})
# Stopping is always allowed (fail-safe): it never processes data, it only halts.
STOP_PHASES = frozenset({Phase.FAILED, Phase.REJECTED, Phase.CANCELLED})


def parse_phase(value: str | None) -> Phase | None:
    """'' or None means 'not started'. Raises ValueError on an unknown name."""
    return Phase(value) if value else None


def next_phase(current: Phase | None) -> Phase | None:
    if current is None:
        return Phase.INITIALIZATION
    if current in TERMINAL:
        return None
    return HAPPY_PATH[HAPPY_PATH.index(current) + 1]


def is_legal(current: Phase | None, target: Phase) -> bool:
    """The edges of the machine: one step along the happy path, or a stop from any live phase."""
    if current in TERMINAL:
        return False
    if target in STOP_PHASES:
        return True
    return next_phase(current) is target

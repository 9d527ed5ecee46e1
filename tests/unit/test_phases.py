"""The phase machine's edges."""
from __future__ import annotations

from itertools import product

from services.kit.contracts.phases import HAPPY_PATH, STOP_PHASES, TERMINAL, Phase, is_legal


def test_exactly_the_happy_path_steps_and_stops_are_legal():
    legal = {(a, b) for a, b in product([None, *Phase], Phase) if is_legal(a, b)}
    steps = {(None, Phase.INITIALIZATION)} | set(zip(HAPPY_PATH, HAPPY_PATH[1:]))
    stops = {(a, s) for a in [None, *Phase] if a not in TERMINAL for s in STOP_PHASES}
    assert legal == steps | stops


def test_nothing_leaves_a_terminal_phase():
    for t, target in product(TERMINAL, Phase):
        assert not is_legal(t, target)

"""A circuit breaker, so a dead validator is not hammered: after `threshold` consecutive
failed calls it opens and calls fail at once (still a denial: fail closed) until `cooldown_s`
has passed; then one trial call is let through (half-open)."""
from __future__ import annotations

import time

from prometheus_client import Gauge

CIRCUIT_OPEN = Gauge("uf_circuit_open", "1 while the circuit to a dependency is open", ["dependency"])


class CircuitBreaker:
    def __init__(self, name: str, threshold: int = 5, cooldown_s: float = 10.0) -> None:
        self.name, self.threshold, self.cooldown_s = name, threshold, cooldown_s
        self.failures = 0
        self.opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None

    def allow(self) -> bool:
        if self.opened_at is None:
            return True
        if time.monotonic() - self.opened_at >= self.cooldown_s and not self._trial_in_flight:
            self._trial_in_flight = True  # half-open: exactly one trial
            return True
        return False

    def success(self) -> None:
        self.failures, self.opened_at, self._trial_in_flight = 0, None, False
        CIRCUIT_OPEN.labels(self.name).set(0)

    def failure(self) -> None:
        self.failures += 1
        self._trial_in_flight = False
        if self.failures >= self.threshold or self.opened_at is not None:
            self.opened_at = time.monotonic()
            CIRCUIT_OPEN.labels(self.name).set(1)

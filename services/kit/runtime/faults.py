"""Test-only fault injection, so the rollout's automatic analysis can be shown to catch a bad
release on the real stack: `UF_TEST_FAULT` = errors | latency | memory | cpu.

It is honoured only when `UF_TEST_FAULTS=1` is set as well; a fault asked for without the gate
stops the service at start (fail closed: a production pod with a stray fault variable must not
come up quietly faulty). A fault acts only while the instance is `active` - it models a bug on
the hot path of the new version, seen by the analysis after promotion:

* errors  - every 10th handled event fails once (an exception) and is retried: work completes,
            the error ratio is 10 %, above the 5 % trigger (a counter, not a coin: a random
            10 % once drew 5 failures in 128 events, 3.9 %, and the faulty colour passed);
* latency - every handled event takes `LATENCY_S` longer (over the 2 s trigger);
* memory  - the process grows a ballast toward its configured memory limit (to ~95 %);
* cpu     - a thread spins (95 % of each 100 ms slice on one core) until the instance is rolled
            back; against a small configured limit it crosses the 95 % trigger even on a
            machine so busy that the spinning thread gets a fraction of a core.
"""
from __future__ import annotations

import asyncio
import logging
import resource
import threading
import time
from dataclasses import dataclass

from services.kit.runtime import role

log = logging.getLogger(__name__)

KINDS = ("errors", "latency", "memory", "cpu")
ERROR_SHARE = 0.10
LATENCY_S = 2.5
MEMORY_TARGET = 0.95
MEMORY_STEP_BYTES = 16 * 1024 * 1024
CPU_BUSY_SHARE = 0.95


class InjectedFault(Exception):
    """A test-injected handler failure (retried like any transient failure)."""


class FaultConfigError(Exception):
    """A fault was asked for without the UF_TEST_FAULTS=1 gate, or an unknown kind."""


@dataclass
class Faults:
    kind: str = ""
    memory_limit_bytes: int = 0

    def __post_init__(self) -> None:
        self._ballast: list[bytearray] = []
        self._started = False
        self._calls = 0

    async def before_handle(self) -> None:
        """Called by the consume loops before each handler attempt, and before each gRPC call."""
        if not self.kind or not role.current().active:
            return
        if self.kind == "errors":
            self._calls += 1
            if self._calls % round(1 / ERROR_SHARE) == 0:
                raise InjectedFault("test fault: errors")
        if self.kind == "latency":
            await asyncio.sleep(LATENCY_S)

    async def run(self) -> None:
        """Background part of the memory and cpu faults (a no-op otherwise)."""
        if self.kind not in ("memory", "cpu"):
            await asyncio.Event().wait()
        while True:
            await role.current().until_active()
            if self.kind == "memory":
                self._grow()
                await asyncio.sleep(0.25)
            elif not self._started:
                self._started = True
                threading.Thread(target=self._spin, name="uf-test-fault-cpu", daemon=True).start()
                await asyncio.Event().wait()

    def _grow(self) -> None:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        if self.memory_limit_bytes and rss < MEMORY_TARGET * self.memory_limit_bytes:
            step = min(MEMORY_STEP_BYTES, int(MEMORY_TARGET * self.memory_limit_bytes) - rss)
            self._ballast.append(bytearray(b"\x01" * max(step, 0)))  # touched: resident, not just reserved

    def _spin(self) -> None:
        busy = CPU_BUSY_SHARE
        while True:
            end = time.perf_counter() + 0.1 * busy
            while time.perf_counter() < end:
                pass
            time.sleep(0.1 * (1 - busy))


_FAULTS = Faults()


def configure(kind: str, enabled: bool, *, memory_limit_bytes: int = 0) -> Faults:
    global _FAULTS
    if kind and kind not in KINDS:
        raise FaultConfigError(f"unknown test fault {kind!r}; one of {', '.join(KINDS)}")
    if kind and not enabled:
        raise FaultConfigError("UF_TEST_FAULT is set but UF_TEST_FAULTS=1 is not: refusing to start with a fault")
    _FAULTS = Faults(kind, memory_limit_bytes)
    if kind:
        log.warning("TEST FAULT INJECTION ON", extra={"fault": kind})
    return _FAULTS


def current() -> Faults:
    return _FAULTS

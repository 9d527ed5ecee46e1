"""Under load and faults nothing fails that could have waited (issue 10), on the real stack.

A burst of workflows runs while something is wrong - the CPU busy with other work, an instance
killed, Redis, OpenSearch, the SMTP sink or the broker away for a while - and afterwards
every workflow is COMPLETED, no transition is in the committed log twice, each email arrived
once, nothing was dead-lettered and the Redis projection equals the log. Sizes are kept so the
whole file fits CI's budget on a 2-core machine; `UF_BURST` raises the burst (e.g. 1000).
"""
from __future__ import annotations

import os
import threading

import pytest

from tests.integration import helpers as h
from tests.integration import load_helpers as lh
from tests.integration.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.load]
BURST = int(os.environ.get("UF_BURST") or 150)
FAULT_BURST = int(os.environ.get("UF_FAULT_BURST") or 60)


@pytest.mark.timeout(1800)
def test_burst_under_cpu_hog_completes_exactly_once(suite):
    with lh.cpu_hog(2):
        burst = lh.start_burst(BURST)
        lh.wait_finished(burst, timeout_s=max(600, BURST * 2.0))
    lh.assert_exactly_once(burst)


def _outage(component: str, down_s: float) -> threading.Thread:
    """Stop an infrastructure component now and start it again after `down_s` (in a thread, so
    the test can check meanwhile that no service process exits)."""
    lh.stack("down", component)

    def back() -> None:
        threading.Event().wait(down_s)
        lh.stack("up", component)

    t = threading.Thread(target=back, daemon=True)
    t.start()
    return t


@pytest.mark.timeout(900)
@pytest.mark.parametrize(("component", "down_s"), [("redis", 30), ("opensearch", 30), ("smtp", 60)])
def test_dependency_outage_mid_burst_is_waited_out(suite, component, down_s):
    burst = lh.start_burst(FAULT_BURST)
    eventually(lambda: sum(p != "" for p in lh.phases(burst.ids).values()) >= FAULT_BURST // 4,
               timeout_s=120, what="burst under way")
    back = _outage(component, down_s)
    while back.is_alive():
        assert all(lh.alive(s) for s in ("validator", "audit", "delivery", "orchestrator", "pii")), \
            f"a service exited while {component} was down"
        back.join(2.0)
    lh.wait_finished(burst, timeout_s=600)
    lh.assert_exactly_once(burst)


@pytest.mark.timeout(900)
def test_broker_restart_mid_burst(suite):
    burst = lh.start_burst(FAULT_BURST)
    eventually(lambda: sum(p != "" for p in lh.phases(burst.ids).values()) >= FAULT_BURST // 4,
               timeout_s=120, what="burst under way")
    lh.stack("down", "kafka")
    lh.stack("up", "kafka")
    assert all(lh.alive(s) for s in ("validator", "audit", "delivery", "orchestrator", "pii"))
    lh.wait_finished(burst, timeout_s=600)
    lh.assert_exactly_once(burst)


@pytest.mark.timeout(1500)
def test_kill_one_instance_of_each_service_mid_burst(suite):
    """Two instances of everything; kill -9 one instance of each, one at a time, then the
    orchestrator and delivery together; the survivors (and the restarted ones) finish it all."""
    h.launcher("up", "--replicas", "2")
    try:
        burst = lh.start_burst(FAULT_BURST * 2)
        for victims in (["pii@1"], ["validator@1"], ["audit@1"], ["delivery@1"], ["orchestrator@1"],
                        ["orchestrator@1", "delivery@1"]):
            done = sum(p in h.TERMINAL for p in lh.phases(burst.ids).values())
            h.launcher("kill", *victims)
            h.launcher("up", *victims)
            eventually(lambda d=done: sum(p in h.TERMINAL for p in lh.phases(burst.ids).values()) > d or
                       all(p in h.TERMINAL for p in lh.phases(burst.ids).values()),
                       timeout_s=300, what="progress after the kill")
        lh.wait_finished(burst, timeout_s=600)
        lh.assert_exactly_once(burst)
    finally:
        h.launcher("down", *(f"{s}@1" for s in ("orchestrator", "delivery", "audit", "validator", "pii")))
        h.launcher("up", "--replicas", "1")

"""Under load and faults nothing fails that could have waited (issue 10), on the real stack.

A burst of workflows runs while something is wrong - the CPU busy with other work, an instance
killed, Redis, OpenSearch, the SMTP sink or the broker away for a while - and afterwards
every workflow is COMPLETED, no transition is in the committed log twice, each email arrived
once, nothing was dead-lettered and the Redis projection equals the log. Every drill runs with
two instances of every service (the module's fixture scales the suite out and back).

Each drill prints one `drill:` line (run with `-s`): workflows completed, transitions/emails
twice, dead letters, and the time to recover = from the fault's end (dependency back, killed
instance restarted) to the next workflow finishing and to the whole burst finished. Sizes are
kept so the whole file fits CI's budget on a 2-core machine; `UF_BURST` / `UF_FAULT_BURST`
raise the bursts (e.g. UF_BURST=1000).
"""
from __future__ import annotations

import os
import threading
import time

import pytest

from services.kit.runtime.service_table import kafka_brokers
from tests.integration import helpers as h
from tests.integration import load_helpers as lh
from tests.integration.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.load]
BURST = int(os.environ.get("UF_BURST") or 150)
FAULT_BURST = int(os.environ.get("UF_FAULT_BURST") or 60)
SERVICES = ("pii", "validator", "audit", "delivery", "orchestrator")


@pytest.fixture(scope="module")
def two_of_each(suite):
    """Two instances of every service for the module's drills; back to the previous counts after."""
    before = lh.replica_counts()
    h.launcher("up", "--replicas", "2")
    yield
    lh.restore_replicas(before)


def _all_alive() -> bool:
    return all(lh.alive(s) for s in SERVICES)


@pytest.mark.timeout(1800)
def test_burst_under_cpu_hog_completes_exactly_once(two_of_each):
    with lh.cpu_hog(2):
        burst = lh.start_burst(BURST)
        lh.wait_finished(burst, timeout_s=max(600, BURST * 2.0))
    lh.check(f"{BURST} workflows beside a CPU hog", burst, recovered_from=burst.started)


def _outage(component: str, down_s: float) -> tuple[threading.Thread, list[float]]:
    """Stop an infrastructure component now and start it again after `down_s` (in a thread, so
    the test can check meanwhile that no service process exits). The list gets the monotonic
    time at which the component was ready again."""
    lh.stack("down", component)
    back_at: list[float] = []

    def back() -> None:
        threading.Event().wait(down_s)
        lh.stack("up", component)
        back_at.append(time.monotonic())

    t = threading.Thread(target=back, daemon=True)
    t.start()
    return t, back_at


def _under_way(burst: lh.Burst) -> None:
    eventually(lambda: sum(p != "" for p in lh.phases(burst.ids).values()) >= len(burst.ids) // 4,
               timeout_s=180, what="burst under way")


@pytest.mark.timeout(900)
@pytest.mark.parametrize(("component", "down_s"), [("redis", 30), ("opensearch", 30), ("smtp", 60)])
def test_dependency_outage_mid_burst_is_waited_out(two_of_each, component, down_s):
    burst = lh.start_burst(FAULT_BURST)
    _under_way(burst)
    back, back_at = _outage(component, down_s)
    while back.is_alive():
        assert _all_alive(), f"a service exited while {component} was down"
        back.join(2.0)
    assert back_at, f"{component} did not come back"
    progress = lh.watch_progress(burst, since=back_at[0])
    lh.wait_finished(burst, timeout_s=600)
    assert _all_alive(), f"a service exited after {component} came back"
    lh.check(f"{component} down {down_s}s", burst, recovered_from=back_at[0], progress=progress)


@pytest.mark.timeout(900)
def test_broker_restart_mid_burst(two_of_each):
    burst = lh.start_burst(FAULT_BURST)
    _under_way(burst)
    lh.stack("down", "kafka")
    lh.stack("up", "kafka")
    back_at = time.monotonic()
    assert _all_alive(), "a service exited while the broker restarted"
    progress = lh.watch_progress(burst, since=back_at)
    lh.wait_finished(burst, timeout_s=600)
    assert _all_alive(), "a service exited after the broker restart"
    lh.check("broker restarted", burst, recovered_from=back_at, progress=progress)


@pytest.mark.timeout(900)
@pytest.mark.skipif(kafka_brokers() < 3, reason="needs the 3-broker Kafka profile: `infra/stack.py up --brokers 3` (docs/operations.md)")
def test_one_broker_of_three_killed_mid_burst(two_of_each):
    """Kafka as a cluster (RF 3, min.insync.replicas 2, acks=all): kill -9 broker 1 - the first
    address of every client's bootstrap list - mid-burst and keep it down until the burst is
    finished: nothing stops, nothing is lost or written twice. Then it rejoins."""
    burst = lh.start_burst(FAULT_BURST)
    _under_way(burst)
    try:
        lh.kill_component("kafka")
        killed = time.monotonic()
        progress = lh.watch_progress(burst, since=killed)
        def finished_with_every_service_alive() -> bool:
            assert _all_alive(), "a service exited with one broker down"
            return burst.finished or lh.all_finished(burst)

        # a dead service keeps the probe failing: the timeout then names it (the last error is chained)
        eventually(finished_with_every_service_alive, timeout_s=600, interval_s=1.0, what="burst finished with one broker down")
        lh.wait_finished(burst, timeout_s=60)
        lh.check("broker 1 of 3 killed (kept down)", burst, recovered_from=killed, progress=progress)
    finally:
        lh.stack("up", "kafka")


@pytest.mark.timeout(1500)
def test_kill_one_instance_of_each_service_mid_burst(two_of_each):
    """Two instances of everything; kill -9 one instance of each, one at a time, then the
    orchestrator and delivery together; the survivors (and the restarted ones) finish it all."""
    burst = lh.start_burst(FAULT_BURST * 2)
    _under_way(burst)
    for victims in (["pii@1"], ["validator@1"], ["audit@1"], ["delivery@1"], ["orchestrator@1"],
                    ["orchestrator@1", "delivery@1"]):
        done = sum(p in h.TERMINAL for p in lh.phases(burst.ids).values())
        h.launcher("kill", *victims)
        h.launcher("up", *victims)
        restarted = time.monotonic()
        eventually(lambda d=done: sum(p in h.TERMINAL for p in lh.phases(burst.ids).values()) > d or
                   all(p in h.TERMINAL for p in lh.phases(burst.ids).values()),
                   timeout_s=300, what=f"progress after killing {victims}")
        print(f"drill: kill -9 {'+'.join(victims)}: next workflow finished "
              f"{time.monotonic() - restarted:.1f}s after the restart")
    last = time.monotonic()
    lh.wait_finished(burst, timeout_s=600)
    lh.check("kill -9 one instance of each, then orchestrator+delivery", burst, recovered_from=last)
    lh.wait_attested_once_each()  # the audit checkpointers divided the partitions again, none stalled

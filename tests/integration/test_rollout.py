"""Blue-green rollouts of a Kafka consumer on the real stack (`ufctl rollout ...`): a preview
colour that touches nothing, a promotion mid-burst that hands the partitions over at the
committed offsets (every workflow completes, no transition and no email twice, no offset
skipped), and faulty new colours that the analysis rolls back by itself, one per trigger."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from services import launcher
from services.kit.contracts import codec, topics
from services.kit.messaging import logreader
from services.kit.runtime.paths import ROOT
from services.kit.security import kafka_auth
from tests.integration import helpers as h
from tests.integration.waiting import eventually
from ufctl.rollout import analysis, handover

pytestmark = pytest.mark.integration
HAPPY = ["INITIALIZATION", "BATCH_DISCOVERY", "STRATEGY_ANALYSIS", "GENERATION", "REVIEW", "DELIVERY", "COMPLETED"]
SERVICE = "orchestrator"
ROLLBACK_WITHIN_S = 60.0  # promotion -> old colour consuming again, stated in docs/benchmarks.md


OTHERS = ("validator", "pii", "audit")


def back_to_blue(service: str) -> None:
    settle(service)
    if launcher.live_colour(service) != "blue":
        launcher.start_colour(service, "blue", "preview")  # every instance, as preview while green is active
        assert launcher.wait_colour_ready(service, "blue", 90), launcher.tail(service)
        handover.switch(service, launcher.live_colour(service), "blue")
        launcher.stop_colour(service, "green")


@pytest.fixture(scope="module", autouse=True)
def blue_at_the_end(suite):
    """Leave the suite as the other test modules expect it: blue (instance 0) active."""
    yield
    for service in (SERVICE, *OTHERS):
        back_to_blue(service)


def ufctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ufctl", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=180)


def rollout_status(service: str = SERVICE) -> dict[str, Any]:
    res = ufctl("rollout", "status", service, "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def settle(service: str = SERVICE) -> None:
    """Wait until no rollout of `service` is in progress (an earlier test's analysis ends)."""
    def done() -> bool:
        res = ufctl("rollout", "status", service, "--json")
        return res.returncode != 0 or json.loads(res.stdout)["phase"] not in ("Preview", "Analysing")
    eventually(done, timeout_s=150, what="previous rollout finished")


def abort_own_rollout(service: str = SERVICE) -> None:
    """End a rollout this test started and left in Preview/Analysing (it failed before its own
    abort): otherwise the cleanup waits out the analysis and its timeout hides the failure."""
    res = ufctl("rollout", "status", service, "--json")
    if res.returncode == 0 and json.loads(res.stdout)["phase"] in ("Preview", "Analysing"):
        ufctl("rollout", "abort", service)


def burst(n: int, spacing_s: float, until: threading.Event | None = None, max_n: int = 40,
          after: int = 3) -> tuple[list[dict[str, Any]], list[str], threading.Thread]:
    """Publish campaigns from a thread, one every `spacing_s`: `n` of them, or - with `until` -
    until the event is set (at most `max_n` before it: bounded in count however slow the machine
    is) and then `after` more, so the burst surely straddles it. The `after` ones come even when
    `max_n` was reached first: on a busy machine a promotion could otherwise start after every
    workflow of the burst had finished on the old colour (seen once beside the CPU hog)."""
    docs: list[dict[str, Any]] = []
    ids: list[str] = []

    def one() -> None:
        docs.append(h.campaign())
        ids.append(h.publish(docs[-1]))
        time.sleep(spacing_s)

    def go() -> None:
        while len(ids) < (n if until is None else max_n):
            if until is not None and until.is_set():
                break
            one()
        if until is None or not until.wait(timeout=600):  # bounded in time as well
            return
        for _ in range(after):
            one()

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return docs, ids, t


def assert_completed(wf: str, timeout_s: float) -> None:
    """COMPLETED; otherwise the failure names the workflow's end and the reason it was given."""
    st = h.wait_phase(wf, timeout_s=timeout_s)
    assert st["phase"] == "COMPLETED", f"{wf} ended {st['phase']}: {st.get('reason')}"


def assert_exactly_once(ids: list[str], docs: list[dict[str, Any]]) -> Counter:
    """Every workflow completed with each transition once in the committed log and each email
    once in the SMTP sink. Returns which colours produced the transitions."""
    by_wf: dict[str, list[dict[str, Any]]] = {wf: [] for wf in ids}
    for m in h.read_topic(topics.WORKFLOW_EVENTS):
        wf = m.key.decode() if m.key else ""
        decoded = codec.decode(m.value) if wf in by_wf else None
        if decoded is not None and decoded.event_type == "WorkflowPhaseChanged":  # not WorkflowWaiting (parked)
            by_wf[wf].append(decoded.record)
    colours: Counter = Counter()
    for wf, doc in zip(ids, docs):
        phases = [e["to_phase"] for e in by_wf[wf]]
        assert phases == HAPPY, f"{wf}: transitions in the log {phases}"
        colours.update(e["envelope"]["producer"]["colour"] for e in by_wf[wf])
        received = Counter(m["To"].lower() for m in h.smtp_messages(wf))
        wanted = {c["email"].lower() for c in doc["contacts"] if c.get("opted_in", True)}
        assert set(received) == wanted and all(n == 1 for n in received.values()), f"{wf}: emails {received}"
    return colours


def assert_no_offset_gap(group: str, input_topics: tuple[str, ...]) -> None:
    """The group's committed offset of every input partition is the end of the log: nothing
    left behind or skipped (a skip would leave a record unprocessed, i.e. a workflow stuck)."""
    async def go() -> dict[str, tuple[int, int]]:
        c = AIOKafkaConsumer(bootstrap_servers=h.SETTINGS.kafka_bootstrap, group_id=group, enable_auto_commit=False,
                             **kafka_auth.client_args(kafka_auth.ADMIN),
                             isolation_level="read_committed")
        await c.start()
        try:
            tps = await logreader.partitions_of(c, list(input_topics))
            _, end = await logreader.bounds(c, tps)
            return {f"{tp.topic}/{tp.partition}": (await c.committed(tp) or 0, end[tp]) for tp in tps}
        finally:
            await c.stop()

    def caught_up() -> bool:
        gaps = {k: v for k, v in asyncio.run(go()).items() if v[0] != v[1]}
        assert not gaps, f"committed != end: {gaps}"
        return True

    eventually(caught_up, timeout_s=30, what=f"{group} committed to the end of its inputs")


def prometheus_up() -> bool:
    try:
        analysis.instant("up")
        return True
    except Exception:
        return False


def test_preview_consumes_nothing_and_abort_leaves_production_untouched(suite):
    settle()
    active = launcher.live_colour(SERVICE)
    res = ufctl("rollout", "start", SERVICE, "--version", "0.1.1-preview")
    assert res.returncode == 0, res.stderr
    st = rollout_status()
    assert (st["phase"], st["active"]) == ("Preview", active) and st["preview"] != active
    preview = st["preview"]
    role = json.loads(launcher.colour_get(SERVICE, "/role", preview)[1])
    assert role["role"] == "preview" and role["settled"] and set(role["consumers"].values()) == {"released"}
    assert launcher.colour_get(SERVICE, "/ready", preview)[0], "a preview instance is ready"

    docs, ids, t = burst(3, 0.2)
    t.join(30)
    for wf in ids:
        assert_completed(wf, 90)
    colours = assert_exactly_once(ids, docs)
    assert set(colours) == {active}, f"only the active colour produced anything: {colours}"

    res = ufctl("rollout", "abort", SERVICE)
    assert res.returncode == 0, res.stderr
    st = rollout_status()
    assert (st["phase"], st["active"], st["preview"]) == ("Aborted", active, None)
    assert launcher.colour_pid(SERVICE, preview) is None and launcher.live_colour(SERVICE) == active
    assert [x["step"] for x in st["history"]] == ["started", "aborted"]
    res = ufctl("rollout", "promote", SERVICE)
    assert res.returncode != 0 and "no rollout" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_fault_refused_without_the_test_gate(suite):
    settle()
    res = ufctl("rollout", "start", SERVICE, "--version", "9.9.9", "--fault", "errors", env={"UF_TEST_FAULTS": "0"})
    assert res.returncode != 0 and "UF_TEST_FAULTS=1" in res.stderr
    res = ufctl("rollout", "start", "gateway", "--version", "9.9.9")
    assert res.returncode != 0 and len(res.stderr.strip().splitlines()) == 1 and "unknown service" in res.stderr


@pytest.mark.timeout(600)  # a preview reads the whole state changelog before it is ready; busy machines
def test_healthy_green_promoted_mid_burst_hands_over_exactly_once(suite):
    settle()
    old = launcher.live_colour(SERVICE)
    res = ufctl("rollout", "start", SERVICE, "--version", "0.1.1-healthy")
    assert res.returncode == 0, res.stderr
    promoted = threading.Event()
    docs, ids, t = burst(0, 0.25, until=promoted)
    eventually(lambda: len(ids) >= 4, timeout_s=30, what="burst under way")
    res = ufctl("rollout", "promote", SERVICE, "--analysis-s", "20")
    promoted.set()
    assert res.returncode == 0, res.stderr
    t.join(60)
    # the promoted colour (by now the analysis may have rolled it back on a busy machine)
    new = next(x["colour"] for x in rollout_status()["history"] if x["step"] == "promoted")
    assert new != old
    for wf in ids:
        assert_completed(wf, 120)
    colours = assert_exactly_once(ids, docs)
    assert colours[old] and colours[new], f"the burst straddled the switch: {colours}"
    assert_no_offset_gap("uf-orchestrator", ("uf.workflow.requests", "uf.agent.results", "uf.delivery.outcomes"))

    sw = next(x for x in rollout_status()["history"] if x["step"] == "promoted")
    assert sw["pause_ms"] is not None and not sw["killed_old"], sw
    SWITCHES.append((sw, [[x["at"] for x in h.status(wf)["history"]] for wf in ids]))
    if prometheus_up():
        st = eventually(lambda: (s := rollout_status())["phase"] != "Analysing" and s, timeout_s=120,
                        what="analysis finished")
        # Completed on a quiet machine; on an overloaded one the response-time trigger can fire for
        # the healthy build too (its handlers wait for CPU) - then the rollback itself must be exact.
        assert st["analysis"] and {m["trigger"] for m in st["analysis"][0]["measurements"]} >= {
            "error-rate", "response-time", "memory", "cpu", "consumer-lag", "dead-letters"}
        print(f"analysis: {st['phase']} {st['history'][-1]}")
        assert st["phase"] in ("Completed", "RolledBack"), st["history"][-1]
        if st["phase"] == "RolledBack":
            assert_exactly_once(ids, docs)
            assert_no_offset_gap("uf-orchestrator", ("uf.workflow.requests", "uf.agent.results", "uf.delivery.outcomes"))


SWITCHES: list[tuple[dict[str, Any], list[Any]]] = []  # (promoted step, workflows' transition times)


def test_no_workflow_slower_than_2s_because_of_the_switch(suite):
    """No step of any workflow that spans the switch took 2 s longer than the slowest step of the
    same burst away from it (same run, same machine load); nothing consumed for under 2 s."""
    if not SWITCHES:
        pytest.skip("runs after the healthy promotion test")
    sw, histories = SWITCHES[-1]
    across, away = [], []
    for at in histories:
        at = list(at)
        for a, b in zip(at, at[1:]):
            (across if a < sw["switch_done_at"] and b > sw["switch_started_at"] else away).append((b - a) / 1000)
    print(f"\nswitch {sw}; steps across it: max {max(across, default=0):.2f}s (n={len(across)}); "
          f"away from it: max {max(away):.2f}s (n={len(away)})")
    assert sw["pause_ms"] < 2000, sw
    assert max(across, default=0) <= max(away) + 2.0, (sorted(across)[-5:], sorted(away)[-5:], sw)


# fault -> (trigger expected to fire, extra environment of the faulty colour). Memory and CPU
# faults run against a small configured limit, so they cross the trigger within seconds without
# taking the shared machine's memory, and even when the spinning thread gets only a sliver of a
# busy machine's cores (the test suite itself runs under `nice`).
FAULTS = {
    "errors": ("error-rate", {}),
    "latency": ("response-time", {}),
    "memory": ("memory", {"UF_MEMORY_LIMIT_BYTES": str(320 * 1024 * 1024)}),
    "cpu": ("cpu", {"UF_CPU_LIMIT_MILLICORES": "50"}),
}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_faulty_green_is_rolled_back_by_itself(suite, fault):
    trigger, env = FAULTS[fault]
    assert prometheus_up(), "the analysis needs the suite's Prometheus (`make up` starts it)"
    settle()
    old = launcher.live_colour(SERVICE)
    res = ufctl("rollout", "start", SERVICE, "--version", f"0.1.1-{fault}", "--fault", fault,
                env={"UF_TEST_FAULTS": "1", **env})
    assert res.returncode == 0, res.stderr
    promoted = threading.Event()
    docs, ids, t = burst(0, 0.3, until=promoted, after=6)
    eventually(lambda: len(ids) >= 4, timeout_s=30, what="burst under way")
    promoted_at = time.monotonic()
    res = ufctl("rollout", "promote", SERVICE)
    promoted.set()
    assert res.returncode == 0, res.stderr
    st = eventually(lambda: (s := rollout_status())["phase"] != "Analysing" and s, timeout_s=ROLLBACK_WITHIN_S + 30,
                    what="analysis verdict")
    waited = time.monotonic() - promoted_at
    assert st["phase"] == "RolledBack", st["analysis"][-1:]
    assert st["active"] == old and st["preview"] is None and launcher.live_colour(SERVICE) == old
    back = st["history"][-1]
    assert back["step"] == "rolled-back" and trigger in back["triggers"], back
    print(f"\n{fault}: {back}")
    assert back["rollback_done_after_ms"] < ROLLBACK_WITHIN_S * 1000 and waited < ROLLBACK_WITHIN_S + 30, back

    t.join(60)
    for wf in ids:
        assert_completed(wf, 120)
    assert_exactly_once(ids, docs)
    assert_no_offset_gap("uf-orchestrator", ("uf.workflow.requests", "uf.agent.results", "uf.delivery.outcomes"))
    steps = [e["step"] for e in rollout_events(st["rollout_id"])]
    assert steps == ["started", "promoted", "rolled-back"], steps


def rollout_events(rollout_id: str) -> list[dict[str, Any]]:
    """The rollout as recorded on uf.rollouts (what the audit trail attests)."""
    out = []
    for m in h.read_topic(topics.ROLLOUTS):
        rec = codec.decode(m.value).record
        if rec.get("rollout_id") == rollout_id and rec["envelope"]["event_type"] == "RolloutStepRecorded":
            out.append(rec)
    return out


def work_done(service: str, colour: str) -> float:
    """Kafka events handled plus gRPC calls served by one colour (its own /metrics)."""
    ok, text = launcher.colour_get(service, "/metrics", colour)
    assert ok, text[:200]
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(("uf_events_total{", "uf_grpc_requests_total{")))


@pytest.mark.timeout(600)
@pytest.mark.parametrize("service", OTHERS)
def test_grpc_and_audit_services_switch_colour_mid_burst(suite, service):
    """validator and pii: the production gRPC address moves to the new colour (make-before-break,
    callers never find it closed); audit: its consume loop, checkpointer and retention sweeper
    move. Workflows running across the switch all complete, each transition and email once."""
    settle(service)
    old = launcher.live_colour(service)
    res = ufctl("rollout", "start", service, "--version", f"0.1.1-{service}")
    assert res.returncode == 0, res.stderr
    new = rollout_status(service)["preview"]
    role = json.loads(launcher.colour_get(service, "/role", new)[1])
    assert role["role"] == "preview" and set(role["consumers"].values()) <= {"released"}, role
    before = work_done(service, new)
    promoted = threading.Event()
    docs, ids, t = burst(0, 0.3, until=promoted, max_n=20)
    eventually(lambda: len(ids) >= 3, timeout_s=30, what="burst under way")
    res = ufctl("rollout", "promote", service, "--analysis-s", "15")
    promoted.set()
    assert res.returncode == 0, res.stderr
    t.join(60)
    for wf in ids:
        assert_completed(wf, 180)
    assert_exactly_once(ids, docs)
    # the new colour does the service's work after the switch (calls or events): on a busy machine
    # the burst may have ended before the hand-over, so one more workflow goes through after it
    assert_completed(h.publish(h.campaign()), 180)
    eventually(lambda: work_done(service, new) > before, timeout_s=60, what=f"{service} {new} working")
    if service == "audit":
        def checkpoint_by_new() -> bool:
            return any(codec.decode(m.value).record["envelope"]["producer"]["colour"] == new
                       for m in h.read_topic(topics.AUDIT_CHECKPOINTS))
        eventually(checkpoint_by_new, timeout_s=120, what="a checkpoint signed by the new colour")
    st = eventually(lambda: (s := rollout_status(service))["phase"] != "Analysing" and s, timeout_s=150,
                    what="analysis finished")
    print(f"\n{service}: {st['phase']} {[x for x in st['history'] if x['step'] == 'promoted']}")
    assert st["phase"] in ("Completed", "RolledBack"), st["history"][-1]
    if st["phase"] == "Completed":
        assert launcher.colour_pid(service, old) is None and launcher.live_colour(service) == new
    back_to_blue(service)


def launch(*args: str) -> None:
    res = subprocess.run([sys.executable, "-m", "services.launcher", *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]


@pytest.mark.timeout(900)
def test_every_instance_of_a_scaled_service_moves_exactly_once(suite):
    """`launcher --scale orchestrator=2`: the rollout starts a preview twin of each instance,
    the promotion moves both instances' partitions at once (old ones all released before a new
    one joins), workflows across it complete exactly once, and the abort brings both back."""
    settle()
    back_to_blue(SERVICE)
    launch("up", SERVICE, "--scale", f"{SERVICE}=2")
    try:
        res = ufctl("rollout", "start", SERVICE, "--version", "0.1.1-scaled")
        assert res.returncode == 0, res.stderr
        new = rollout_status()["preview"]
        for i in range(2):
            r = json.loads(launcher.colour_get(SERVICE, "/role", new, i=i)[1])
            assert r["role"] == "preview" and set(r["consumers"].values()) == {"released"}, (i, r)
        promoted = threading.Event()
        docs, ids, t = burst(0, 0.3, until=promoted, max_n=20)
        eventually(lambda: len(ids) >= 4, timeout_s=30, what="burst under way")
        res = ufctl("rollout", "promote", SERVICE, "--analysis-s", "600")
        promoted.set()
        assert res.returncode == 0, res.stderr
        sw = next(x for x in rollout_status()["history"] if x["step"] == "promoted")
        print(f"\nscaled switch: {sw}")
        assert not sw["killed_old"] and any(k.startswith("new@1 ") for k in sw["timeline"]), sw
        for i in range(2):
            old_role = json.loads(launcher.colour_get(SERVICE, "/role", "blue", i=i)[1])
            new_role = json.loads(launcher.colour_get(SERVICE, "/role", new, i=i)[1])
            assert old_role["role"] == "preview" and set(old_role["consumers"].values()) == {"released"}, (i, old_role)
            assert new_role["role"] == "active" and set(new_role["consumers"].values()) == {"consuming"}, (i, new_role)
        t.join(60)
        for wf in ids:
            assert_completed(wf, 180)
        colours = assert_exactly_once(ids, docs)
        assert colours["blue"] and colours[new], f"the burst straddled the switch: {colours}"
        assert_no_offset_gap("uf-orchestrator", ("uf.workflow.requests", "uf.agent.results", "uf.delivery.outcomes"))
        res = ufctl("rollout", "abort", SERVICE)
        assert res.returncode == 0, res.stderr
        assert all(launcher.colour_pid(SERVICE, new, i) is None for i in range(2))
        assert launcher.live_colour(SERVICE) == "blue"
    finally:
        abort_own_rollout()  # a failure above left its 600 s analysis running: report that failure, not settle()'s wait
        settle()
        back_to_blue(SERVICE)
        launch("up", SERVICE, "--scale", f"{SERVICE}=1")
        launch("down", f"{SERVICE}@1")

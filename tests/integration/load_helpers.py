"""Bursts of workflows and the checks a user relies on after them, for the load and fault
tests: every workflow COMPLETED, no transition twice in the committed log, each email once,
nothing dead-lettered, and the Redis projection equal to what the log says."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import redis
from aiokafka import AIOKafkaProducer

from bench.e2e import cpu_hog, emails_by_message_id, request_doc, send_signed  # noqa: F401 (cpu_hog re-exported)
from services.kit.contracts import codec, topics
from services.kit.contracts.keys import wf_key
from services.kit.messaging.bus import producer_config, publish
from services.kit.runtime.paths import ROOT, VAR
from services.kit.runtime.service_table import SERVICES as _SERVICE_TABLE
from services.kit.security import kafka_auth, redis_auth
from tests.integration import helpers as h
from tests.integration.waiting import NotYet, eventually
from ufctl import publishing

SERVICE_NAMES = list(_SERVICE_TABLE)


@dataclass
class Burst:
    tag: str
    ids: list[str]
    recipients: int
    since: dict[str, dict[int, int]] = field(default_factory=dict)  # topic -> partition -> offset before the burst
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None  # monotonic time at which wait_finished saw every workflow terminal


def start_burst(n: int, recipients: int = 1) -> Burst:
    """Open a session, record consent, publish n requests at once (returns without waiting)."""
    tag = uuid.uuid4().hex[:6]
    docs = [request_doc(tag, i, recipients) for i in range(n)]
    since = {t: h.end_offsets(t) for t in (topics.WORKFLOW_EVENTS, topics.DEAD_LETTER)}

    async def go() -> None:
        publishing.configure_publisher()
        p = AIOKafkaProducer(**producer_config(h.SETTINGS.kafka_bootstrap, **kafka_auth.client_args("ufctl")))
        await p.start()
        try:
            await publish(p, topics.SESSIONS, publishing.session_event(f"bench-{tag}", f"sess-bench-{tag}", 4.0))
            for d in docs:
                for c in d["contacts"]:
                    await send_signed(p, topics.CONSENT, publishing.consent_event(c["subject_id"], "marketing", True),
                                      c["subject_id"].encode())
            await p.flush()
            for d in docs:
                e = publishing.request_event(d, h.KEYS)  # sealed at the edge, as ufctl does
                await send_signed(p, topics.REQUESTS, e, e["envelope"]["workflow_id"].encode())
            await p.flush()
        finally:
            await p.stop()

    asyncio.run(go())
    return Burst(tag, [d["workflow_id"] for d in docs], recipients, since)


def phases(ids: list[str]) -> dict[str, str]:
    r = redis.Redis.from_url(h.SETTINGS.redis_url, socket_timeout=5, **redis_auth.credentials("admin"))
    try:
        pipe = r.pipeline(transaction=False)
        for wf in ids:
            pipe.hget(wf_key(wf), "phase")
        return {wf: (v or b"").decode() for wf, v in zip(ids, pipe.execute(), strict=True)}
    finally:
        r.close()


def wait_finished(burst: Burst, timeout_s: float) -> dict[str, str]:
    def probe() -> dict[str, str]:
        got = phases(burst.ids)
        pending = [wf for wf, p in got.items() if p not in h.TERMINAL]
        if pending:
            raise NotYet(f"{len(pending)}/{len(burst.ids)} not finished; phases {Counter(got.values())}")
        return got

    got = eventually(probe, timeout_s=timeout_s, interval_s=1.0, what=f"burst {burst.tag} finished")
    burst.finished = time.monotonic()
    return got


def all_finished(burst: Burst) -> bool:
    try:
        return all(p in h.TERMINAL for p in phases(burst.ids).values())
    except redis.RedisError:
        return False


def watch_progress(burst: Burst, since: float) -> list[float]:
    """In the background: the monotonic time at which the next workflow of the burst finishes
    (or `since` if all already had), appended to the returned list - the first sign of recovery."""
    first: list[float] = []
    done_then = sum(p in h.TERMINAL for p in phases(burst.ids).values())

    def watch() -> None:
        deadline = since + 900
        while time.monotonic() < deadline:
            try:
                done = sum(p in h.TERMINAL for p in phases(burst.ids).values())
            except redis.RedisError:
                done = done_then
            if done > done_then or done == len(burst.ids):
                first.append(max(since, time.monotonic()))
                return
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True).start()
    return first


@dataclass
class Figures:
    phases: Counter[str]
    transitions_twice: dict[tuple[str, str], int]
    projection_differs: list[str]
    dead: list[str]
    emails: int
    emails_twice: dict[str, int]


def figures(burst: Burst) -> Figures:
    """What a user relies on after a burst, counted (not asserted): phases, transitions in the
    committed log more than once, workflows whose Redis phase differs from the log's last
    transition, our dead letters (their reasons), emails sent and emails sent more than once."""
    ours = {wf.encode() for wf in burst.ids}
    got = phases(burst.ids)
    seen: Counter[tuple[str, str]] = Counter()
    last: dict[str, str] = {}
    for m in h.read_topic(topics.WORKFLOW_EVENTS, since=burst.since[topics.WORKFLOW_EVENTS], timeout_s=120):
        if m.key in ours:
            d = codec.decode(m.value)
            if d.event_type == "WorkflowPhaseChanged":
                seen[(m.key.decode(), d.record["to_phase"])] += 1
                last[m.key.decode()] = d.record["to_phase"]
    dead = [h.header(m, "uf.dlq.reason") for m in h.read_topic(topics.DEAD_LETTER, since=burst.since[topics.DEAD_LETTER])
            if m.key in ours]
    expected = len(burst.ids) * burst.recipients

    def all_emails() -> Counter[str]:
        emails = emails_by_message_id(burst.tag)
        if sum(emails.values()) < expected:
            raise NotYet(f"{sum(emails.values())} emails of {expected}")
        return emails

    try:  # the sink writes its index after answering; give the last ones a moment
        emails = eventually(all_emails, timeout_s=60, what="every email delivered")
    except AssertionError:
        emails = emails_by_message_id(burst.tag)
    return Figures(Counter(got.values()), {k: c for k, c in seen.items() if c > 1},
                   sorted(wf for wf in got if last.get(wf) != got[wf]), dead,
                   sum(emails.values()), {k: c for k, c in emails.items() if c > 1})


def check(label: str, burst: Burst, recovered_from: float, progress: list[float] | None = None) -> Figures:
    """Print the drill's `drill:` line, then assert: all COMPLETED; in the committed log each
    transition once and the Redis phase equal to the last one (a replay of the log gives the
    same); each email once; no dead letter of ours."""
    f = figures(burst)
    first = f"{progress[0] - recovered_from:.1f}s" if progress else "-"
    end = f"{(burst.finished or time.monotonic()) - recovered_from:.1f}s"
    print(f"\ndrill: {label}: {f.phases.get('COMPLETED', 0)}/{len(burst.ids)} COMPLETED {dict(f.phases)}; "
          f"transitions twice {len(f.transitions_twice)}; emails {f.emails} (twice {len(f.emails_twice)}); "
          f"dead letters {len(f.dead)}; projection differs {len(f.projection_differs)}; "
          f"recovery: next workflow finished {first}, burst finished {end} after the fault ended; "
          f"burst took {(burst.finished or time.monotonic()) - burst.started:.0f}s", flush=True)
    assert f.phases == {"COMPLETED": len(burst.ids)}, dict(f.phases)
    assert not f.transitions_twice, f"transitions committed more than once: {list(f.transitions_twice.items())[:5]}"
    assert not f.projection_differs, f"the Redis projection differs from the log: {f.projection_differs[:5]}"
    assert not f.dead, f"dead-lettered: {f.dead[:5]}"
    assert not f.emails_twice, f"emails sent more than once: {list(f.emails_twice.items())[:5]}"
    assert f.emails == len(burst.ids) * burst.recipients, f"{f.emails} emails of {len(burst.ids) * burst.recipients}"
    return f


def stack(*args: str) -> None:
    """infra/stack.py, with a readiness bound for a busy machine: a JVM restarting beside a burst
    on two loaded cores took two minutes (the stack's own default is 120 s)."""
    env = {**os.environ, "UF_STACK_TIMEOUT": os.environ.get("UF_STACK_TIMEOUT") or "600"}
    res = subprocess.run([sys.executable, "infra/stack.py", *args], cwd=ROOT, capture_output=True, text=True, env=env)
    assert res.returncode == 0, f"infra/stack.py {' '.join(args)} failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"


def kill_component(component: str) -> None:
    """kill -9 an infrastructure process (e.g. one Kafka broker) - no clean shutdown."""
    pid = int((VAR / "run" / f"{component}.pid").read_text().split()[0])
    os.killpg(pid, signal.SIGKILL)


def alive(name: str) -> bool:
    """The instance's process still runs (no service exits during a dependency outage)."""
    return subprocess.run([sys.executable, "-m", "services.launcher", "status", name], cwd=ROOT,
                          capture_output=True).stdout.count(b'"pid": null') == 0


def replica_counts() -> dict[str, int]:
    """The launcher's remembered instance counts (var/run/replicas.json; 1 when absent)."""
    try:
        return {k: int(v) for k, v in json.loads((VAR / "run" / "replicas.json").read_text()).items()}
    except (FileNotFoundError, ValueError):
        return {}


def restore_replicas(before: dict[str, int]) -> None:
    """Stop the instances a test added and put the launcher's counts back as they were."""
    now = replica_counts()
    for svc in reversed(SERVICE_NAMES):
        n = before.get(svc, 1)
        if now.get(svc, 1) != n:
            h.launcher("down", *(f"{svc}@{i}" for i in range(n, now.get(svc, 1))))
            h.launcher("up", svc, "--scale", f"{svc}={n}")


def attestation_by_instance() -> dict[tuple[str, str], list[tuple[str, float]]]:
    """(topic, partition) -> [(audit instance, unattested records)] from every running audit
    instance's /metrics: a partition is reported by the instance that chains it, and only by it."""
    import urllib.request

    out: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for inst in json.loads((VAR / "run" / "instances.json").read_text()):
        if inst["service"] != "audit":
            continue
        with urllib.request.urlopen(inst["metrics_url"], timeout=5) as r:
            text = r.read().decode()
        for line in text.splitlines():
            if not line.startswith("uf_audit_unattested_records{"):
                continue
            labels = dict(kv.split("=", 1) for kv in line[line.index("{") + 1:line.rindex("}")].split(","))
            tp = (labels["topic"].strip('"'), labels["partition"].strip('"'))
            out.setdefault(tp, []).append((inst["name"], float(line.rsplit(" ", 1)[1])))
    return out


def wait_attested_once_each(timeout_s: float = 180) -> None:
    """Every audited partition is chained by exactly one audit instance and nothing it read is
    left unattested: no partition orphaned or doubled by a kill, no checkpointer stalled."""
    wanted = {(t, str(p)) for t in topics.audited_topics() for p in h.end_offsets(t)}

    def settled() -> bool:
        seen = attestation_by_instance()
        orphaned = sorted(wanted - set(seen))
        doubled = sorted(tp for tp, owners in seen.items() if len(owners) > 1)
        waiting = sorted((tp, owners) for tp, owners in seen.items() if any(n for _, n in owners))
        if orphaned or doubled or waiting:
            raise NotYet(f"orphaned {orphaned[:5]} doubled {doubled[:5]} unattested {waiting[:5]}")
        return True

    eventually(settled, timeout_s=timeout_s, interval_s=1.0, what="every audited partition attested by one audit instance")

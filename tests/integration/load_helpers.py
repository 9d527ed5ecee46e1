"""Bursts of workflows and the checks a user relies on after them, for the load and fault
tests: every workflow COMPLETED, no transition twice in the committed log, each email once,
nothing dead-lettered, and the Redis projection equal to what the log says."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections import Counter
from dataclasses import dataclass, field

import redis
from aiokafka import AIOKafkaProducer

from bench.e2e import cpu_hog, emails_by_message_id, request_doc, send_signed  # noqa: F401 (cpu_hog re-exported)
from services.kit.contracts import codec, topics
from services.kit.contracts.keys import wf_key
from services.kit.messaging.bus import producer_config, publish
from services.kit.runtime.paths import ROOT
from services.kit.security import kafka_auth
from tests.integration import helpers as h
from tests.integration.waiting import NotYet, eventually
from ufctl import publishing


@dataclass
class Burst:
    tag: str
    ids: list[str]
    recipients: int
    since: dict[str, dict[int, int]] = field(default_factory=dict)  # topic -> partition -> offset before the burst


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
                e = publishing.request_event(d)
                await send_signed(p, topics.REQUESTS, e, e["envelope"]["workflow_id"].encode())
            await p.flush()
        finally:
            await p.stop()

    asyncio.run(go())
    return Burst(tag, [d["workflow_id"] for d in docs], recipients, since)


def phases(ids: list[str]) -> dict[str, str]:
    r = redis.Redis.from_url(h.SETTINGS.redis_url, socket_timeout=5)
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

    return eventually(probe, timeout_s=timeout_s, interval_s=1.0, what=f"burst {burst.tag} finished")


def assert_exactly_once(burst: Burst) -> None:
    """All COMPLETED; in the committed log each transition once and the Redis phase equal to the
    last one (a replay of the log gives the same); each email once; no dead letter of ours."""
    ours = {wf.encode() for wf in burst.ids}
    got = phases(burst.ids)
    assert Counter(got.values()) == {"COMPLETED": len(burst.ids)}, Counter(got.values())
    seen: Counter[tuple[str, str]] = Counter()
    last: dict[str, str] = {}
    for m in h.read_topic(topics.WORKFLOW_EVENTS, since=burst.since[topics.WORKFLOW_EVENTS], timeout_s=120):
        if m.key in ours:
            d = codec.decode(m.value)
            if d.event_type == "WorkflowPhaseChanged":
                seen[(m.key.decode(), d.record["to_phase"])] += 1
                last[m.key.decode()] = d.record["to_phase"]
    twice = {k: c for k, c in seen.items() if c > 1}
    assert not twice, f"transitions committed more than once: {list(twice.items())[:5]}"
    assert last == got, "the Redis projection differs from the log"
    dead = [m for m in h.read_topic(topics.DEAD_LETTER, since=burst.since[topics.DEAD_LETTER]) if m.key in ours]
    assert not dead, f"dead-lettered: {[h.header(m, 'uf.dlq.reason') for m in dead][:5]}"

    def emails_once() -> bool:
        emails = emails_by_message_id(burst.tag)
        dup = {k: c for k, c in emails.items() if c > 1}
        assert not dup, f"emails sent more than once: {list(dup.items())[:5]}"
        if sum(emails.values()) != len(burst.ids) * burst.recipients:
            raise NotYet(f"{sum(emails.values())} emails of {len(burst.ids) * burst.recipients}")
        return True

    eventually(emails_once, timeout_s=60, what="every email delivered once")


def stack(*args: str) -> None:
    subprocess.run([sys.executable, "infra/stack.py", *args], cwd=ROOT, check=True, capture_output=True)


def alive(name: str) -> bool:
    """The instance's process still runs (no service exits during a dependency outage)."""
    return subprocess.run([sys.executable, "-m", "services.launcher", "status", name], cwd=ROOT,
                          capture_output=True).stdout.count(b'"pid": null') == 0

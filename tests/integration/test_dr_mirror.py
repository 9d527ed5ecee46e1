"""Losing the Kafka cluster: the DR site (infra/dr_site.py - a second Kafka cluster fed by
MirrorMaker 2) holds what the signed checkpoints attest, and `ufctl audit verify --bootstrap DR`
proves it by content - and says what a failover would lose once the mirror falls behind, rather
than hide it. Real brokers, real MirrorMaker, the suite's own checkpoints.

The DR site is this test's own (started and removed here); MirrorMaker only reads the primary
and keeps its bookkeeping on the DR site, so the suite is left as it was."""
from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from aiokafka import AIOKafkaProducer

from services.kit.contracts import topics
from services.kit.contracts.keys import CHECKPOINT_HEADS
from services.kit.runtime.paths import ROOT
from services.kit.runtime.service_table import HOST, KAFKA_DR_PORT
from services.kit.security import kafka_auth, redis_auth
from tests.integration import helpers as h
from tests.integration.waiting import eventually

pytestmark = pytest.mark.integration

DR = f"{HOST}:{KAFKA_DR_PORT}"


def dr_site(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "infra/dr_site.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def verify_mirror() -> tuple[int, dict[str, Any]]:
    res = subprocess.run([sys.executable, "-m", "ufctl", "audit", "verify", "--bootstrap", DR, "--json", "--timeout", "300"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode in (0, 1, 3), res.stderr[-2000:]
    return res.returncode, json.loads(res.stdout)


def partition(res: dict[str, Any], topic: str, p: int) -> dict[str, Any]:
    return next(x for x in res["partitions"] if x["topic"] == topic and x["partition"] == p)


def declared(res: dict[str, Any]) -> list[dict[str, Any]]:
    """The suite's declared topics (scratch topics earlier tests deleted on the primary are gone
    there too: the mirror rightly reports their attested records as not mirrored)."""
    return [x for x in res["partitions"] if x["topic"] in topics.load_topics()]


def publish_one() -> tuple[int, int]:
    """A workflow end to end; (partition, primary offset) of its request."""
    before = h.end_offsets(topics.REQUESTS)
    wf = h.publish(h.campaign())
    assert h.wait_phase(wf, timeout_s=120)["phase"] == "COMPLETED"
    # the record's own offset (end - 1 may be a transaction marker, which no mirror holds)
    (m,) = [m for m in h.read_topic(topics.REQUESTS, since=before) if m.key == wf.encode()]
    return m.partition, m.offset


@pytest.fixture
def site(suite) -> Iterator[None]:
    res = dr_site("up")
    try:
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
        yield
    finally:
        dr_site("down")
        for d in ("data", "conf"):  # the next run starts from an empty DR site
            shutil.rmtree(ROOT / "var" / d / "dr", ignore_errors=True)


@pytest.mark.timeout(2700)
@pytest.mark.xfail(run=False, reason=(
    "open (issue 15): passed in one fresh-clone `make test` (2026-12-01 22:45 UTC); failed in two other runs because "
    "the test read mirrored_through == 0 (a request at offset 0 of its partition) as 'nothing mirrored' (fixed), not "
    "yet re-proven in two fresh-clone runs. Run it with `pytest --runxfail tests/integration/test_dr_mirror.py`"))
def test_the_mirror_matches_the_signed_checkpoints_and_reports_what_it_lost(site):
    # 1. Mirrored: a workflow's records reach the DR site and match what the checkpoints attest.
    p, offset = publish_one()
    done = time.monotonic()

    seen: list[Any] = []

    def mirrored() -> dict[str, Any] | None:
        code, res = verify_mirror()
        part = partition(res, topics.REQUESTS, p)
        seen[:] = [code, part, res["summary"]]
        through = part["mirrored_through"]  # None: nothing of it mirrored yet; 0 is an offset
        return res if code in (0, 3) and res["ok"] and through is not None and through >= offset else None

    # MirrorMaker starts (a JVM), copies the whole log, then follows it; each verify reads all of
    # the mirror: minutes on a busy 2-core machine.
    try:
        res = eventually(mirrored, timeout_s=900, interval_s=2.0, what="the workflow attested and mirrored")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; request at {p}:{offset}; last verify (exit, its partition, summary): {seen}") from None
    s = res["summary"]
    print(f"mirrored and verified {time.monotonic() - done:.1f}s after COMPLETED (checkpoint interval + mirror lag + "
          f"one verify): {s['matched']}/{s['attested']} attested records on the mirror")  # figures (-rA)
    assert s["holes"] == 0 and s["inserted"] == 0 and s["forged"] == 0 and s["checkpoint_errors"] == 0
    assert s["checkpoints_verified"] > 0 and s["matched"] > 0
    # once caught up, nothing of the suite's declared topics is missing from the mirror
    eventually(lambda: all(x["lost"] == 0 and x["checkpoints_not_mirrored"] == 0 for x in declared(verify_mirror()[1])),
               timeout_s=600, interval_s=2.0, what="the mirror caught up with every attested record")

    # 2. The mirror falls behind (it stops, the primary goes on): what a failover would lose is
    # reported - attested records past the last mirrored one, and their checkpoints - exit 3.
    stopped = dr_site("stop-mirror")
    assert stopped.returncode == 0, stopped.stderr
    p2, offset2 = publish_one()
    primary = redis.Redis.from_url(h.SETTINGS.redis_url, **redis_auth.credentials("admin"))

    def attested_on_primary() -> bool:  # the primary's stored checkpoint copies say what was attested
        raw = primary.hget(CHECKPOINT_HEADS, f"{topics.REQUESTS}:{p2}")
        return bool(raw) and json.loads(raw)["last_offset"] >= offset2

    eventually(attested_on_primary, timeout_s=120, interval_s=1.0, what="the new request attested on the primary")
    code, res = verify_mirror()
    part = partition(res, topics.REQUESTS, p2)
    assert code == 3 and res["ok"] and not res["complete"], res["summary"]
    assert part["lost"] >= 1 and part["checkpoints_not_mirrored"] >= 1, part
    assert part["mirrored_through"] is None or part["mirrored_through"] < offset2, part
    assert res["summary"]["holes"] == 0 and res["summary"]["inserted"] == 0

    # 3. Not a rubber stamp: a record slipped into the mirror, signed by no service, fails it.
    async def forge() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=DR, **kafka_auth.client_args(kafka_auth.ADMIN))
        await producer.start()
        try:
            await producer.send_and_wait(topics.REQUESTS, b"forged on the DR site", key=b"wf-forged", partition=p2)
        finally:
            await producer.stop()

    asyncio.run(forge())
    code, res = verify_mirror()
    assert code == 1 and not res["ok"] and partition(res, topics.REQUESTS, p2)["forged"] == 1

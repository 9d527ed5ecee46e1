"""A fact topic whose log ends in a transaction marker does not stall the validator.

Under read_committed a consumer never sees the commit marker a transactional write leaves
after its records, yet the partition's end offset counts it. The validator's projection of
sessions/consent/policy/GDPR used to compare "last record projected + 1" with the end offset,
so one transactional write (any producer allowed to write the topic may use transactions)
left it "lagging" for good: /ready answered 503 (the image test on a CI machine never saw
the validator ready) and every read barrier ran into its deadline."""
from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest
from aiokafka import AIOKafkaProducer

from services.kit.contracts import topics
from services.kit.runtime.service_table import http_port
from services.kit.security import kafka_auth
from tests.integration import helpers as h
from tests.integration.waiting import eventually

pytestmark = pytest.mark.integration


def _commit_one(topic: str, key: bytes) -> None:
    """One record in a committed transaction (the admin principal may use transactions)."""
    async def go() -> None:
        p = AIOKafkaProducer(bootstrap_servers=h.SETTINGS.kafka_bootstrap, transactional_id=h.unique("marker-test"),
                             **kafka_auth.client_args(kafka_auth.ADMIN))
        await p.start()
        try:
            async with p.transaction():
                await p.send(topic, b"not an event: ends in a commit marker", key=key)
        finally:
            await p.stop()

    asyncio.run(go())


def _validator_ready() -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port('validator')}/ready", timeout=5) as r:
            return r.status == 200 and json.loads(r.read())["ready"] is True
    except urllib.error.HTTPError:
        return False


def test_validator_stays_ready_and_decides_after_a_transactional_write_to_a_fact_topic(suite):
    eventually(_validator_ready, timeout_s=60, what="validator ready before the write")
    _commit_one(topics.CONSENT, key=h.unique("subject").encode())
    # the record is refused (unsigned) and the marker is skipped: the projection is at the log end
    eventually(_validator_ready, timeout_s=60, what="validator ready after the transactional write")
    st = h.wait_phase(h.publish(h.campaign()), timeout_s=120)
    assert st["phase"] == "COMPLETED", st

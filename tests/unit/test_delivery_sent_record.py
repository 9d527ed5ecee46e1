"""An email the SMTP server accepted is SENT, even when storing that in Redis fails at that very
moment (Redis restarting, a stale pooled connection after a restart): the retried request
confirms SENT without sending again, and another instance that takes the partition over finds
"sent:" too - never "outcome unknown" for an email this sender knows it delivered.

Redis here is an in-memory stand-in that fails one write (a unit test of the sender's
bookkeeping; the real-stack outage drills are tests/integration/test_load_and_faults.py)."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
import redis.exceptions

from services.delivery import sender as sender_mod
from services.delivery.sender import DeliverySender
from tests.unit.memory_keys import MemoryKeys


class FlakyRedis:
    """Keys in a dict; the first write of a "sent:" record fails like a dropped connection."""

    def __init__(self, store: dict[str, bytes]) -> None:
        self.store, self.fail_sent_once = store, True

    async def set(self, key: str, value: bytes, nx: bool = False, ex: int | None = None) -> bool:
        if value.startswith(b"sent:") and self.fail_sent_once:
            self.fail_sent_once = False
            raise redis.exceptions.ConnectionError("Connection closed by server.")
        if nx and key in self.store:
            return False
        self.store[key] = value
        return True

    async def get(self, key: str) -> bytes | None:
        return self.store.get(key)

    async def exists(self, key: str) -> int:
        return int(key in self.store)

    async def delete(self, key: str) -> int:
        return int(self.store.pop(key, None) is not None)


def make_sender(store: dict[str, bytes], owner: str, confirmed: list[tuple[str, str, bool]]) -> DeliverySender:
    s = DeliverySender.__new__(DeliverySender)  # no Kafka, keys in memory: only the claim bookkeeping runs
    s.settings = SimpleNamespace(smtp_host="127.0.0.1", smtp_port=25, smtp_give_up_s=3600)
    s.redis, s.keys, s.owner, s.timeouts, s.smtp, s._accepted = FlakyRedis(store), MemoryKeys(), owner, None, None, {}

    async def approved(req: dict) -> bool:
        return True

    async def confirm(req: dict, status: str, *, message_id: str = "", duplicate: bool = False, error: str = "") -> None:
        confirmed.append((status, message_id, duplicate))

    s._approved, s._confirm = approved, confirm  # type: ignore[method-assign]
    return s


@pytest.fixture
def smtp_sends(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    sends: list[str] = []

    def send_email(*args: Any, before_final_dot: Any, delivery_id: str, **kw: Any) -> str:
        before_final_dot()
        sends.append(delivery_id)
        return f"<{delivery_id}@test>"

    monkeypatch.setattr(sender_mod, "send_email", send_email)
    monkeypatch.setattr(sender_mod, "open_record", lambda keys, record: record)
    return sends


REQ = {"envelope": {"workflow_id": "wf-1"}, "delivery_id": "d-1", "recipient": "r@example.com", "body": "hi",
       "sender": "s@example.com", "subject": "s"}
MSG = SimpleNamespace(timestamp=0)


def test_a_retried_request_confirms_sent_without_sending_again(smtp_sends: list[str]) -> None:
    store: dict[str, bytes] = {}
    confirmed: list[tuple[str, str, bool]] = []
    s = make_sender(store, "delivery-a", confirmed)

    async def run() -> None:
        with pytest.raises(redis.exceptions.ConnectionError):  # the bus pauses the partition and retries
            await s.deliver(SimpleNamespace(record=dict(REQ)), MSG)
        await s.deliver(SimpleNamespace(record=dict(REQ)), MSG)

    asyncio.run(run())
    assert smtp_sends == ["d-1"]
    assert confirmed == [("SENT", "<d-1@test>", False)]
    assert list(store.values()) == [b"sent:<d-1@test>"]


def test_another_instance_finds_sent_once_the_heartbeat_stored_it(smtp_sends: list[str]) -> None:
    store: dict[str, bytes] = {}
    confirmed: list[tuple[str, str, bool]] = []
    a = make_sender(store, "delivery-a", confirmed)
    b = make_sender(store, "delivery-b", confirmed)

    async def run() -> None:
        with pytest.raises(redis.exceptions.ConnectionError):
            await a.deliver(SimpleNamespace(record=dict(REQ)), MSG)
        await a._store_accepted()  # what a's heartbeat does next
        await b.deliver(SimpleNamespace(record=dict(REQ)), MSG)  # the partition moved to b

    asyncio.run(run())
    assert smtp_sends == ["d-1"]
    assert confirmed == [("SENT", "<d-1@test>", True)]

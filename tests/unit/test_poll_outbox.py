"""PollOutbox: a poll's records are all acknowledged before the poll may commit, and none is
dropped by a failed flush (the consume loop retries the flush with backoff)."""
from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaTimeoutError

from services.kit.contracts.codec import InvalidRecord
from services.kit.contracts.events import Origin, make_event
from services.kit.messaging.outbox import PollOutbox


class Broker:
    """Accepts sends; acknowledges each later (or fails the acks of one flush)."""

    def __init__(self) -> None:
        self.acked: list[bytes] = []
        self.fail_next = False

    async def send(self, topic, value, key=None, headers=None):
        ack: asyncio.Future = asyncio.get_running_loop().create_future()
        if self.fail_next:
            ack.set_exception(KafkaTimeoutError())
        else:
            self.acked.append(value)
            ack.set_result(None)
        return ack

    async def send_and_wait(self, topic, value, key=None, headers=None):
        return await (await self.send(topic, value, key=key, headers=headers))


def event(n: int) -> dict:
    return make_event("ConsentChanged", origin=Origin("test", "1", "blue"), workflow_id=f"wf-{n}", session_id="s",
                      correlation_id=f"wf-{n}", subject_id=f"subject-{n}", purpose="marketing", granted=True)


async def test_a_flush_acknowledges_every_record_then_empties():
    broker = Broker()
    outbox = PollOutbox(broker)  # type: ignore[arg-type]
    for n in range(3):
        outbox.add("uf.consent", event(n))
    assert len(broker.acked) == 0  # nothing is written before the flush
    assert await outbox.flush() == []
    assert len(broker.acked) == 3 and len(outbox) == 0
    assert await outbox.flush() == [] and len(broker.acked) == 3  # an empty poll writes nothing


async def test_a_failed_flush_keeps_every_record_for_the_retry():
    broker = Broker()
    outbox = PollOutbox(broker)  # type: ignore[arg-type]
    for n in range(3):
        outbox.add("uf.consent", event(n))
    broker.fail_next = True
    with pytest.raises(KafkaTimeoutError):
        await outbox.flush()
    assert len(outbox) == 3
    broker.fail_next = False
    await outbox.flush()
    assert len(outbox) == 0 and len(broker.acked) == 3


async def test_a_record_its_schema_refuses_fails_where_it_is_added_not_in_the_flush():
    broker = Broker()
    outbox = PollOutbox(broker)  # type: ignore[arg-type]
    bad = event(1)
    bad["granted"] = "yes"  # a string where the schema has a boolean
    with pytest.raises(InvalidRecord):
        outbox.add("uf.consent", bad)
    assert len(outbox) == 0
    assert await outbox.flush() == [] and broker.acked == []

"""A producer whose sender died (aiokafka: OutOfOrderSequenceNumber after a broker restart) is
replaced on the next send instead of failing every send for good."""
from __future__ import annotations

import asyncio

from aiokafka.errors import OutOfOrderSequenceNumber

from services.kit.messaging import bus


class FakeProducer:
    made: list[FakeProducer] = []

    def __init__(self, **config):
        self.config, self.stopped, self.dead = config, False, False
        FakeProducer.made.append(self)

    async def start(self):
        pass

    async def stop(self):
        self.stopped = True

    async def send_and_wait(self, topic, value, **kw):
        if self.dead:
            raise OutOfOrderSequenceNumber()
        return (topic, value)


def test_a_dead_sender_is_replaced_once_and_the_next_send_goes_through(monkeypatch):
    monkeypatch.setattr(bus, "AIOKafkaProducer", FakeProducer)
    FakeProducer.made.clear()

    async def go():
        p = await bus.start_producer("127.0.0.1:1", ssl_context=None)
        assert await p.send_and_wait("t", b"1") == ("t", b"1")
        FakeProducer.made[0].dead = True
        results = await asyncio.gather(*(p.send_and_wait("t", b"2") for _ in range(3)), return_exceptions=True)
        assert isinstance(results[0], OutOfOrderSequenceNumber)  # the send that met the dead sender still fails
        assert all(isinstance(r, OutOfOrderSequenceNumber) or r == ("t", b"2") for r in results)
        assert len(FakeProducer.made) == 2 and FakeProducer.made[0].stopped  # renewed once, old one stopped
        assert FakeProducer.made[1].config["enable_idempotence"] and FakeProducer.made[1].config["acks"] == "all"
        assert await p.send_and_wait("t", b"3") == ("t", b"3")

    asyncio.run(go())


def test_a_refused_start_is_waited_out_briefly_then_final(monkeypatch):
    from aiokafka.errors import ClusterAuthorizationFailedError

    class Refusing(FakeProducer):
        refusals = 1

        async def start(self):
            if Refusing.refusals > 0:
                Refusing.refusals -= 1
                raise ClusterAuthorizationFailedError()

    async def no_sleep(_s):
        pass

    monkeypatch.setattr(bus, "AIOKafkaProducer", Refusing)
    monkeypatch.setattr(bus.asyncio, "sleep", no_sleep)

    async def go():
        p = await bus.start_producer("127.0.0.1:1", ssl_context=None)  # ACLs arrived after one refusal
        assert await p.send_and_wait("t", b"1") == ("t", b"1")
        Refusing.refusals = 99
        producer = bus.RenewingProducer(bus.producer_config("127.0.0.1:1", ssl_context=None))
        try:
            await producer.start(attempts=3)
        except ClusterAuthorizationFailedError:
            return
        raise AssertionError("a lasting refusal must end the start")

    asyncio.run(go())

"""A partition's transaction that never completes (a producer whose sender died after a broker
restart) is given up after TXN_DEADLINE_S and recovered like a failed one, instead of holding the
orchestrator's loop over every partition for good."""
from __future__ import annotations

import asyncio

import pytest

from services.orchestrator import processor as proc_mod
from services.orchestrator.processor import Processor


class _HungProducer:
    """begin and commit like a producer whose sender task has died: the commit never returns."""

    async def begin_transaction(self) -> None:
        return None

    async def commit_transaction(self) -> None:
        await asyncio.Event().wait()


def test_a_hung_partition_transaction_is_recovered(monkeypatch: pytest.MonkeyPatch) -> None:
    async def go() -> list[BaseException]:
        monkeypatch.setattr(proc_mod, "TXN_DEADLINE_S", 0.2)
        monkeypatch.setattr(proc_mod.kafka_auth, "client_args", lambda principal=None: {})  # no broker, no certificates
        p = Processor(bootstrap="127.0.0.1:1", group_id="g", transactional_prefix="t", engine=None)  # type: ignore[arg-type]
        recovered: list[BaseException] = []

        async def recover(partition: int, exc: Exception) -> None:
            recovered.append(exc)

        monkeypatch.setattr(p, "_recover", recover)
        p.producers[0] = _HungProducer()  # type: ignore[assignment]
        await asyncio.wait_for(p._partition(0, {}, []), 10)
        return recovered

    recovered = asyncio.run(go())
    assert len(recovered) == 1 and isinstance(recovered[0], TimeoutError)

"""Incremental fetch sessions (services/kit/messaging/fetch_sessions.py): a fetch names only what
the broker does not already hold, every partition the answer may name is matched to the offset
the broker read it from, and any doubt about the broker's state starts a new session."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from aiokafka import TopicPartition
from aiokafka.protocol.fetch import FetchRequest, FetchRequest_v11

from services.kit.messaging import fetch_sessions
from services.kit.messaging.fetch_sessions import FetchSession, SessionFetchRequest

A0, A1, B0 = TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0)


def full(offsets: dict[TopicPartition, int]) -> FetchRequest:
    by_topic: dict[str, list[tuple[int, int, int]]] = {}
    for tp, off in offsets.items():
        by_topic.setdefault(tp.topic, []).append((tp.partition, off, 1048576))
    return FetchRequest(500, 1, 52428800, 1, list(by_topic.items()))


def named(struct: FetchRequest_v11) -> dict[TopicPartition, int]:
    return {TopicPartition(t, p[0]): p[2] for t, parts in struct.topics for p in parts}


def answer(session: FetchSession, req: SessionFetchRequest, error_code: int = 0, session_id: int = 77) -> None:
    session.answered(req, error_code, session_id)


def test_the_first_fetch_opens_a_session_naming_every_partition() -> None:
    s = FetchSession()
    req = SessionFetchRequest(full({A0: 5, A1: 9, B0: 0}), s)
    struct = req.build(FetchRequest_v11)
    assert (struct.session_id, struct.session_epoch) == (0, 0)
    assert named(struct) == {A0: 5, A1: 9, B0: 0}
    answer(s, req)
    assert (s.id, s.epoch, s.offsets) == (77, 1, {A0: 5, A1: 9, B0: 0})


def test_a_later_fetch_names_only_moved_partitions_and_forgets_the_dropped() -> None:
    s = FetchSession()
    answer(s, SessionFetchRequest(full({A0: 5, A1: 9, B0: 0}), s))
    req = SessionFetchRequest(full({A0: 7, A1: 9}), s)  # A0 moved on, B0 paused
    struct = req.build(FetchRequest_v11)
    assert (struct.session_id, struct.session_epoch) == (77, 1)
    assert named(struct) == {A0: 7}
    assert struct.forgotten_topics_data == [("b", [0])]
    # the answer may name any partition the broker still holds, each read from its held offset
    assert {TopicPartition(t, p): off for t, parts in req.topics for p, off, _ in parts} == {A0: 7, A1: 9}
    answer(s, req)
    assert (s.epoch, s.offsets) == (2, {A0: 7, A1: 9})
    resumed = SessionFetchRequest(full({A0: 7, A1: 9, B0: 0}), s)
    assert named(resumed.build(FetchRequest_v11)) == {B0: 0}


def test_a_session_error_starts_over_with_a_full_fetch() -> None:
    s = FetchSession()
    answer(s, SessionFetchRequest(full({A0: 5, A1: 9}), s))
    answer(s, SessionFetchRequest(full({A0: 6, A1: 9}), s), error_code=71)  # INVALID_FETCH_SESSION_EPOCH
    req = SessionFetchRequest(full({A0: 6, A1: 9}), s)
    struct = req.build(FetchRequest_v11)
    assert (struct.session_id, struct.session_epoch) == (0, 0) and named(struct) == {A0: 6, A1: 9}


def test_a_broker_that_opens_no_session_keeps_getting_full_fetches() -> None:
    s = FetchSession()
    answer(s, SessionFetchRequest(full({A0: 5}), s), session_id=0)
    req = SessionFetchRequest(full({A0: 5}), s)
    assert named(req.build(FetchRequest_v11)) == {A0: 5}


@pytest.mark.parametrize("failure", [ConnectionError("broker gone"), asyncio.CancelledError()])
def test_a_send_whose_fate_is_unknown_drops_the_session(failure: BaseException) -> None:
    sessions = {1: FetchSession(id=77, epoch=4, offsets={A0: 5})}

    async def send(node_id: int, request: object) -> object:
        raise failure

    client = fetch_sessions._SessionClient(SimpleNamespace(send=send), sessions)
    with pytest.raises(type(failure)):
        asyncio.run(client.send(1, SessionFetchRequest(full({A0: 6}), sessions[1])))
    assert (sessions[1].id, sessions[1].offsets) == (0, {})


def test_the_pinned_aiokafka_still_builds_fetches_where_they_are_rewritten() -> None:
    assert fetch_sessions.supported()

"""Incremental fetch sessions (Kafka KIP-227) for aiokafka's consumer, which sends only full
fetches.

Why: a full fetch names every assigned partition and its answer lists every one of them again,
data or not. The audit service reads ~210 partitions with two consumers, the orchestrator ~100;
at steady load almost every fetch carries one record, yet the broker handles and the client
builds and parses (in Python) 100-210 partition entries for it. In a session the broker keeps
the partition list: a request names only partitions whose fetch offset changed (or that join or
leave), and the answer only partitions with news (records, a moved high watermark or last
stable offset, an error). That is how the Java client has fetched since Kafka 1.1.

How it plugs in (`enable(consumer)` after `start()`): aiokafka builds each fetch in
`Fetcher._get_actions_per_node` and sends it through `Fetcher._client.send`. The fetch it built
is rewritten against the broker's session, and the answer's session id and error update the
session. Nothing else of aiokafka changes: positions, discarding of stale answers, pausing and
the records themselves are handled by the code that handled full fetches, which reads each
answered partition's fetch offset from the request's `topics` - still the full list, which is
what the session holds once the request is applied, so an answer about a partition this
request did not name is matched to the offset the broker read it from.

Safety: the broker reads every session partition from the fetch offset it holds for it, which is
the last one the client sent; an answer the client discards is therefore fetched again, never
skipped. Any doubt about what the broker holds - a session error, a failed or cancelled send -
drops the session, and the next fetch is a full one that opens a new session. `supported()`
checks the pinned aiokafka still has the seams used; otherwise consumers keep full fetches.
"""
from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.consumer.fetcher import Fetcher
from aiokafka.protocol.fetch import FetchRequest

log = logging.getLogger(__name__)

# A partition as (topic, partition): equal to, and hashed like, aiokafka's TopicPartition, without
# building one (a Python-level namedtuple constructor) per partition per fetch - that was 7 % of
# the audit service's CPU in a burst, for two consumers of ~210 partitions.
Partition = tuple[str, int]

INITIAL_EPOCH = 0  # with session id 0: "open a new session"
MAX_EPOCH = 2**31 - 1


@dataclass
class FetchSession:
    """What one broker holds for this consumer: session id, the epoch of the next request, and
    each partition's fetch offset as last sent."""

    id: int = 0
    epoch: int = INITIAL_EPOCH
    offsets: dict[Partition, int] = field(default_factory=dict)

    def reset(self) -> None:
        self.id, self.epoch, self.offsets = 0, INITIAL_EPOCH, {}

    def plan(self, wanted: dict[Partition, int]) -> tuple[dict[Partition, int], list[Partition]]:
        """(partitions to name with their offsets, partitions to forget) for a fetch of `wanted`."""
        if self.id == 0:
            return dict(wanted), []
        if wanted == self.offsets:  # the common case, an idle or caught-up consumer: compared in C
            return {}, []
        send = {tp: off for tp, off in wanted.items() if self.offsets.get(tp) != off}
        forget = [tp for tp in self.offsets if tp not in wanted]
        return send, forget

    def answered(self, request: SessionFetchRequest, error_code: int, session_id: int) -> None:
        """The broker answered `request` (built from this state)."""
        if error_code != 0:
            self.reset()  # FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH, ...: start over
            return
        if request.session_id == 0:
            if session_id == 0:
                return  # the broker did not open one (its session cache is full): full fetches go on
            self.id, self.offsets = session_id, dict(request.wanted)
        else:
            for tp in request.forgotten:
                self.offsets.pop(tp, None)
            self.offsets.update(request.send)
        self.epoch = 1 if self.epoch >= MAX_EPOCH else self.epoch + 1


class SessionFetchRequest(FetchRequest):
    """aiokafka's fetch request naming only `send` (and forgetting `forgotten`) within a session.
    `topics` stays the full fetch's: after this request the session holds exactly those
    partitions at those offsets, so it is every partition the answer may name, with the offset
    the broker read it from."""

    def __init__(self, full: FetchRequest, session: FetchSession) -> None:
        super().__init__(full._max_wait_ms, full._min_bytes, full._max_bytes, full._isolation_level, full.topics,
                         rack_id=full._rack_id)
        self.max_bytes_per_partition: dict[Partition, int] = {}
        self.wanted: dict[Partition, int] = {}
        for t, parts in full.topics:
            for p, off, mb in parts:
                self.wanted[t, p], self.max_bytes_per_partition[t, p] = off, mb
        self.send, self.forgotten = session.plan(self.wanted)
        self.session_id, self.epoch = session.id, session.epoch

    def build(self, request_struct_class: type[Any]) -> Any:
        version = request_struct_class.API_VERSION
        if version < 7:  # a broker older than Kafka 1.1: a full fetch (its answer opens no session)
            return super().build(request_struct_class)
        parts: dict[str, list[tuple[int, ...]]] = {}
        for (topic, partition), off in self.send.items():
            mb = self.max_bytes_per_partition[topic, partition]
            parts.setdefault(topic, []).append((partition, -1, off, -1, mb) if version >= 9 else (partition, off, -1, mb))
        forgotten: dict[str, list[int]] = {}
        for topic, partition in self.forgotten:
            forgotten.setdefault(topic, []).append(partition)
        args: list[Any] = [-1, self._max_wait_ms, self._min_bytes, self._max_bytes, self._isolation_level,
                           self.session_id, self.epoch, list(parts.items()), list(forgotten.items())]
        if version >= 11:
            args.append(self._rack_id)
        return request_struct_class(*args)


class _SessionClient:
    """The fetcher's view of the consumer's client: fetches go through the sessions; everything
    else is the client itself."""

    def __init__(self, client: Any, sessions: dict[int, FetchSession]) -> None:
        self._client, self._sessions = client, sessions

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def send(self, node_id: int, request: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(request, SessionFetchRequest):
            return await self._client.send(node_id, request, *args, **kwargs)
        session = self._sessions.setdefault(node_id, FetchSession())
        try:
            response = await self._client.send(node_id, request, *args, **kwargs)
        except BaseException:
            session.reset()  # did the broker see it? unknown: the next fetch opens a new session
            raise
        session.answered(request, getattr(response, "error_code", 0), getattr(response, "session_id", 0))
        return response


def supported() -> bool:
    """True when the pinned aiokafka still builds fetches where this module rewrites them."""
    try:
        actions = inspect.getsource(Fetcher._get_actions_per_node)
        proc = inspect.getsource(Fetcher._proc_fetch_request)
        init = inspect.signature(FetchRequest.__init__).parameters
    except (AttributeError, OSError, TypeError):
        return False
    return ("FetchRequest(" in actions and "self._client.send(node_id, request)" in proc
            and "request.topics" in proc and {"max_wait_time", "min_bytes", "max_bytes", "isolation_level", "topics"} <= set(init))


def enable(consumer: AIOKafkaConsumer) -> bool:
    """Fetch through sessions from now on (call after `start()`). False, and full fetches as
    before, when this aiokafka or the broker cannot."""
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is None or not supported():
        log.warning("incremental fetch sessions unavailable; full fetches")
        return False
    if isinstance(fetcher._client, _SessionClient):
        return True
    sessions: dict[int, FetchSession] = {}
    fetcher._client = _SessionClient(fetcher._client, sessions)
    plain = fetcher._get_actions_per_node

    def actions_per_node(assignment: Any) -> Any:
        fetch_requests, *rest = plain(assignment)
        rewritten = [(node_id, SessionFetchRequest(req, sessions.setdefault(node_id, FetchSession())))
                     for node_id, req in fetch_requests]
        return (rewritten, *rest)

    setattr(fetcher, "_get_actions_per_node", actions_per_node)  # noqa: B010 - an instance override of a method
    return True


async def start(consumer: AIOKafkaConsumer) -> None:
    """`consumer.start()`, then fetch through sessions: how the services' long-lived consumers start."""
    await consumer.start()
    enable(consumer)

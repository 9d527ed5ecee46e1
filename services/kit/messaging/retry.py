"""Telling a dependency outage from a bad record, and waiting it out.

A handler that fails because Redis, OpenSearch, SMTP, the broker or a gRPC peer is
unavailable must not turn the record into a dead letter: the record is fine, the world is not.
`dependency_of(exc)` names the dependency behind an exception (or None: the record itself is the
problem), and `Backoff` gives the exponential-with-jitter schedule both the consume loops and
the orchestrator's parked workflows use."""
from __future__ import annotations

import asyncio
import random
import smtplib
import time
from dataclasses import dataclass, field

import grpc
import redis.exceptions as redis_errors
from aiokafka import TopicPartition
from aiokafka import errors as kafka_errors
from opensearchpy import exceptions as search_errors

from services.kit.runtime import telemetry
from services.kit.runtime.ops import NotReady


class DependencyUnavailable(Exception):
    """Raised by a handler when something it needs (not the record) is unavailable.
    `dependency` is a short code (redis, opensearch, smtp, kafka, grpc...): never PII."""

    def __init__(self, dependency: str, detail: str = "") -> None:
        super().__init__(f"{dependency} unavailable" + (f": {detail}" if detail else ""))
        self.dependency = dependency


_GRPC_TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}


def dependency_of(exc: BaseException) -> str | None:
    """The dependency an exception says is unavailable, or None when it is about the record."""
    if isinstance(exc, DependencyUnavailable):
        return exc.dependency
    if isinstance(exc, (redis_errors.ConnectionError, redis_errors.TimeoutError, redis_errors.BusyLoadingError,
                        redis_errors.TryAgainError, redis_errors.ClusterDownError)):
        return "redis"
    if isinstance(exc, (search_errors.ConnectionError, search_errors.ConnectionTimeout)):
        return "opensearch"
    if isinstance(exc, search_errors.TransportError) and str(exc.status_code) in {"429", "502", "503", "504", "N/A"}:
        return "opensearch"
    if isinstance(exc, (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError)):
        return "smtp"
    if isinstance(exc, kafka_errors.KafkaError) and (getattr(exc, "retriable", False) or isinstance(
            exc, (kafka_errors.KafkaConnectionError, kafka_errors.KafkaTimeoutError, kafka_errors.NodeNotReadyError,
                  kafka_errors.RequestTimedOutError, kafka_errors.NotEnoughReplicasError))):
        return "kafka"
    if isinstance(exc, grpc.aio.AioRpcError) and exc.code() in _GRPC_TRANSIENT:
        return "grpc"
    if isinstance(exc, (ConnectionError, TimeoutError, asyncio.TimeoutError)):
        return "network"
    return None


@dataclass
class Backoff:
    """Exponential backoff with full jitter in [cap/2, cap]: retries of many waiters spread out
    instead of arriving together when the dependency comes back."""

    base_s: float = 0.5
    cap_s: float = 30.0

    def delay(self, attempt: int) -> float:
        ceiling = min(self.cap_s, self.base_s * 2 ** min(attempt, 30))
        return random.uniform(ceiling / 2, ceiling)


@dataclass
class _Pause:
    dependency: str
    offset: int
    attempt: int
    until: float


@dataclass
class PartitionPauser:
    """Partitions of one consumer paused because a dependency is down. The failed record's
    offset is kept: the partition resumes exactly there after the backoff, so nothing is skipped
    and nothing dead-lettered; the state shows in /ready (`check`) and in
    `uf_parked_partitions{service,dependency}`."""

    service: str
    backoff: Backoff = field(default_factory=Backoff)
    paused: dict[TopicPartition, _Pause] = field(default_factory=dict)

    def park(self, tp: TopicPartition, offset: int, dependency: str) -> float:
        prev = self.paused.get(tp)
        attempt = prev.attempt + 1 if prev else 0
        wait = self.backoff.delay(attempt)
        self.paused[tp] = _Pause(dependency, offset, attempt, time.monotonic() + wait)
        telemetry.DEPENDENCY_RETRIES.labels(self.service, dependency).inc()
        self._gauge()
        return wait

    def resume_due(self) -> list[TopicPartition]:
        """Partitions whose backoff is over: resume them (each once) at the failed offset."""
        now = time.monotonic()
        due = [tp for tp, p in self.paused.items() if p.until <= now]
        for tp in due:
            self.paused[tp].until = float("inf")  # stays listed until its next batch goes through
        return due

    def resumed(self, tp: TopicPartition) -> None:
        """Called when the partition's next batch went through: forget its attempt count."""
        if self.paused.pop(tp, None) is not None:
            self._gauge()

    def retrying(self, tp: TopicPartition) -> bool:
        return tp in self.paused

    def forget(self, tps: set[TopicPartition]) -> None:
        for tp in tps:
            self.paused.pop(tp, None)
        self._gauge()

    def _gauge(self) -> None:
        counts: dict[str, int] = {}
        for p in self.paused.values():
            counts[p.dependency] = counts.get(p.dependency, 0) + 1
        for dep in ("redis", "opensearch", "smtp", "kafka", "grpc", "network", *counts):
            telemetry.PARKED_PARTITIONS.labels(self.service, dep).set(counts.get(dep, 0))

    def summary(self) -> str:
        deps = sorted({p.dependency for p in self.paused.values()})
        return f"{len(self.paused)} partition(s) waiting for {', '.join(deps)}" if deps else ""

    async def check(self) -> None:
        """Readiness: not ready while records wait for a dependency (the reason is shown)."""
        if self.paused:
            raise NotReady(self.summary())

"""A dependency outage is told apart from a bad record (the first waits, the second is
dead-lettered), and waiting partitions resume exactly at the failed offset."""
from __future__ import annotations

import redis.exceptions
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError
from opensearchpy.exceptions import ConnectionError as SearchConnectionError

from services.kit.messaging.retry import Backoff, DependencyUnavailable, PartitionPauser, dependency_of


def test_outages_are_named_and_record_errors_are_not():
    assert dependency_of(redis.exceptions.ConnectionError("x")) == "redis"
    assert dependency_of(SearchConnectionError("N/A", "down", Exception())) == "opensearch"
    assert dependency_of(KafkaConnectionError()) == "kafka"
    assert dependency_of(ConnectionRefusedError()) == "network"
    assert dependency_of(DependencyUnavailable("smtp")) == "smtp"
    assert dependency_of(KeyError("field")) is None
    assert dependency_of(ValueError("bad")) is None


def test_backoff_grows_with_jitter_and_is_capped():
    b = Backoff(base_s=1, cap_s=8)
    assert all(0.5 <= b.delay(0) <= 1 for _ in range(50))
    assert all(4 <= b.delay(10) <= 8 for _ in range(50))


def test_pauser_resumes_at_the_failed_offset_and_clears_on_success():
    p = PartitionPauser("t", Backoff(base_s=0.0001, cap_s=0.0001))
    tp = TopicPartition("topic", 3)
    p.park(tp, 41, "redis")
    assert p.summary() == "1 partition(s) waiting for redis"
    import time

    time.sleep(0.01)
    assert p.resume_due() == [tp] and p.resume_due() == []  # resumed once
    assert p.paused[tp].offset == 41
    p.resumed(tp)
    assert p.summary() == ""

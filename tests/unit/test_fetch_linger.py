"""FetchLinger: fetches are held only while records flow, and the pinned aiokafka still builds
its fetch requests from the attributes FetchLinger sets."""
from __future__ import annotations

from types import SimpleNamespace

from services.kit.messaging.fetch_linger import FetchLinger, supported


def consumer():
    return SimpleNamespace(_fetcher=SimpleNamespace(_fetch_min_bytes=1, _fetch_max_wait_ms=500))


def settings(c) -> tuple[int, int]:
    return c._fetcher._fetch_min_bytes, c._fetcher._fetch_max_wait_ms


def test_the_pinned_aiokafka_reads_fetch_settings_from_its_fetcher():
    assert supported()


def test_held_while_records_flow_then_back_to_idle_after_quiet_polls():
    linger, c = FetchLinger(busy_min_bytes=65536, busy_wait_ms=50, quiet_polls=2), consumer()
    assert linger.consumer_args() == {"fetch_min_bytes": 1, "fetch_max_wait_ms": 500}
    linger.observe(c, 0)
    assert settings(c) == (1, 500)  # idle: the first record is answered at once
    linger.observe(c, 3)
    assert settings(c) == (65536, 50)
    linger.observe(c, 0)
    assert settings(c) == (65536, 50)  # one quiet poll is not a quiet spell
    linger.observe(c, 0)
    assert settings(c) == (1, 500)


def test_a_consumer_made_anew_gets_the_current_mode():
    linger = FetchLinger(busy_min_bytes=65536, busy_wait_ms=50)
    linger.observe(consumer(), 5)
    fresh = consumer()  # e.g. after leaving and joining the group again
    linger.observe(fresh, 0)
    assert settings(fresh) == (65536, 50)


def test_a_consumer_not_started_is_left_alone():
    linger = FetchLinger()
    linger.observe(SimpleNamespace(_fetcher=None), 5)  # no error

"""Delivery reuses SMTP connections: many emails over one connection, each arriving once with
its own Message-ID, and a connection the server dropped is replaced before anything is sent."""
from __future__ import annotations

import socket
import uuid

import pytest

from services.delivery.config import DeliverySettings
from services.delivery.smtp import SmtpPool, SmtpTimeouts, send_email
from tests.integration import helpers as h
from tests.integration.waiting import eventually

pytestmark = pytest.mark.integration


def _send(pool: SmtpPool, wf: str, n: int) -> list[str]:
    s = DeliverySettings()
    t = SmtpTimeouts(greeting_s=30, command_s=30, data_init_s=30, data_block_s=30, final_s=30)
    return [send_email(s.smtp_host, s.smtp_port, t, delivery_id=f"{wf}-d{i}", sender="bench@shop.example",
                       recipient=f"r{i}@example.com", subject=f"pool {i}", body=f"body {i}", workflow_id=wf, pool=pool)
            for i in range(n)]


def test_emails_share_one_connection_and_each_arrives_once(stack):
    pool = SmtpPool()
    wf = f"wf-smtp-pool-{uuid.uuid4().hex[:6]}"
    try:
        ids = _send(pool, wf, 5)
    finally:
        pool.close()
    assert pool.opened == 1, "one connection for the whole batch"
    got = eventually(lambda: (m := h.smtp_messages(wf)) and len(m) >= 5 and m, timeout_s=30, what="5 emails at the sink")
    assert sorted(m["Message-ID"] for m in got) == sorted(ids), "each email exactly once"


def test_a_dropped_idle_connection_is_replaced_before_sending(stack):
    pool = SmtpPool(probe_after_s=0.0)
    wf = f"wf-smtp-drop-{uuid.uuid4().hex[:6]}"
    try:
        _send(pool, wf, 1)
        for _, conn in pool._idle:  # the server side goes away while the connection is idle
            conn.sock.shutdown(socket.SHUT_RDWR)
        _send(pool, wf + "-b", 1)
    finally:
        pool.close()
    assert pool.opened == 2
    eventually(lambda: len(h.smtp_messages(wf + "-b")) == 1, timeout_s=30, what="the email after the drop, once")

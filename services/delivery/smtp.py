"""Sending one email over SMTP. The Message-ID is derived from the delivery id, so the same
delivery always carries the same id (receivers can de-duplicate too).

Connections are reused (`SmtpPool`): opening one per email (TCP + greeting + EHLO + QUIT on
both sides) cost more CPU than the message itself. Reuse does not widen the at-least-once
window at the SMTP edge: a connection that sat idle is probed with NOOP before a message goes
out on it, so a connection the server has dropped fails before MAIL FROM, where retrying on a
fresh one cannot send twice."""
from __future__ import annotations

import smtplib
import threading
import time
from email.message import EmailMessage
from email.utils import formatdate


class PermanentSmtpError(Exception):
    """5xx: retrying will not help."""


def message_id(delivery_id: str) -> str:
    return f"<{delivery_id}@universal-framework.local>"


class SmtpPool:
    """Idle SMTP connections shared by the sending threads; at most `max_idle` kept, each for at
    most `idle_s` seconds (servers drop idle clients; we close ours first)."""

    def __init__(self, host: str, port: int, timeout_s: float, max_idle: int = 8, idle_s: float = 10.0,
                 probe_after_s: float = 1.0) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self.max_idle, self.idle_s, self.probe_after_s = max_idle, idle_s, probe_after_s
        self._idle: list[tuple[float, smtplib.SMTP]] = []
        self._lock = threading.Lock()
        self.opened = 0  # connections opened so far (tests, metrics)

    def _take(self) -> smtplib.SMTP:
        now = time.monotonic()
        while True:
            with self._lock:
                entry = self._idle.pop() if self._idle else None
            if entry is None:
                self.opened += 1
                return smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
            since, conn = entry
            if now - since > self.idle_s:
                _close(conn)
                continue
            if now - since > self.probe_after_s:
                try:
                    if conn.noop()[0] != 250:
                        raise smtplib.SMTPServerDisconnected("noop refused")
                except (smtplib.SMTPException, OSError):
                    _close(conn)
                    continue
            return conn

    def _give_back(self, conn: smtplib.SMTP) -> None:
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append((time.monotonic(), conn))
                return
        _close(conn)

    def send(self, msg: EmailMessage) -> None:
        conn = self._take()
        try:
            conn.send_message(msg)
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 400 and exc.smtp_code != 421:  # the server answered: the session is usable
                try:
                    conn.rset()
                    self._give_back(conn)
                except (smtplib.SMTPException, OSError):
                    _close(conn)
            else:
                _close(conn)
            raise
        except BaseException:
            _close(conn)  # state unknown: never reuse
            raise
        self._give_back(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for _, conn in idle:
            _close(conn)


def _close(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        conn.close()


def send_email(host: str, port: int, timeout_s: float, *, delivery_id: str, sender: str, recipient: str,
               subject: str, body: str, workflow_id: str, pool: SmtpPool | None = None) -> str:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, recipient, subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id(delivery_id)
    msg["X-UF-Workflow-Id"] = workflow_id
    msg["X-UF-Delivery-Id"] = delivery_id
    msg.set_content(body)
    try:
        if pool is not None:
            pool.send(msg)
        else:
            with smtplib.SMTP(host, port, timeout=timeout_s) as smtp:
                smtp.send_message(msg)
    except smtplib.SMTPResponseException as exc:
        if 500 <= exc.smtp_code < 600:
            raise PermanentSmtpError(f"SMTP {exc.smtp_code}") from None
        raise
    except smtplib.SMTPRecipientsRefused:
        raise PermanentSmtpError("recipient refused") from None
    return msg["Message-ID"]

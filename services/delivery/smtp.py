"""Sending one email over SMTP, with RFC 5321's timeouts and an honest account of what is known.

- The Message-ID is derived from the delivery id, so the same delivery always carries the same
  id (receivers can de-duplicate too).
- Timeouts follow RFC 5321 §4.5.3.2 (minutes, not seconds): a slow server that answers after
  13 s is not a failure.
- Outcomes: `TemporarySmtpError` (4xx, connection refused or lost *before* the end of data:
  nothing was accepted, retry later), `PermanentSmtpError` (5xx: do not retry), and
  `AmbiguousDelivery` (timeout or disconnect *after* the terminating dot was sent: the server may
  have accepted it; never resend blindly). `before_final_dot` is called just before that point
  of no return, so the caller can record it durably first.
"""
from __future__ import annotations

import re
import smtplib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.policy import default as DEFAULT_POLICY
from email.utils import formatdate
from typing import Any


@dataclass(frozen=True)
class SmtpTimeouts:
    """RFC 5321 §4.5.3.2 minimums (seconds)."""

    greeting_s: float = 300.0  # initial 220 message (and connect)
    command_s: float = 300.0  # MAIL, RCPT replies
    data_init_s: float = 120.0  # DATA -> 354
    data_block_s: float = 180.0  # each data block sent
    final_s: float = 600.0  # after the terminating <CRLF>.<CRLF> until 250


class PermanentSmtpError(Exception):
    """5xx: retrying will not help."""


class TemporarySmtpError(Exception):
    """4xx, or the server was unreachable or went away before the end of data: nothing was
    accepted; retry on a schedule."""


class AmbiguousDelivery(Exception):
    """No reply after the terminating dot: the message may or may not have been accepted."""


class _ReusedHeaderClasses(HeaderRegistry):
    """The `email` package's header registry, keeping the class it makes per header name.

    The stock registry builds a new class (`type(...)`) for every header it parses - 7 us each,
    ~20 per email built and sent, and each a cyclic object for the garbage collector: 36 % of
    `build_message`'s time. The class depends only on the header's name, so one per name is
    the same header; parsing, validation (CR/LF in a value is refused) and output are the
    package's unchanged code."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = super().__getitem__(name)
        return cls


_HEADERS = _ReusedHeaderClasses()
BUILD_POLICY = DEFAULT_POLICY.clone(header_factory=_HEADERS)  # what EmailMessage() uses, headers reused
WIRE_POLICY = SMTP_POLICY.clone(header_factory=_HEADERS)  # the SMTP flavour (CRLF), headers reused


def message_id(delivery_id: str) -> str:
    return f"<{delivery_id}@universal-framework.local>"


def build_message(*, delivery_id: str, sender: str, recipient: str, subject: str, body: str, workflow_id: str) -> EmailMessage:
    msg = EmailMessage(policy=BUILD_POLICY)
    msg["From"], msg["To"], msg["Subject"] = sender, recipient, subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id(delivery_id)
    msg["X-UF-Workflow-Id"] = workflow_id
    msg["X-UF-Delivery-Id"] = delivery_id
    msg.set_content(body)
    return msg


def _check(code: int, ok: tuple[int, ...], step: str) -> None:
    if code in ok:
        return
    if 500 <= code < 600:
        raise PermanentSmtpError(f"SMTP {code} at {step}")
    raise TemporarySmtpError(f"SMTP {code} at {step}")


class SmtpPool:
    """Idle SMTP connections shared by the sending threads: at most `max_idle`, each kept at
    most `idle_s` (servers drop idle clients; we close ours first)."""

    def __init__(self, max_idle: int = 8, idle_s: float = 10.0, probe_after_s: float = 1.0) -> None:
        self.max_idle, self.idle_s, self.probe_after_s = max_idle, idle_s, probe_after_s
        self._idle: list[tuple[float, smtplib.SMTP]] = []
        self._lock = threading.Lock()
        self.opened = 0  # connections opened so far

    def take(self) -> smtplib.SMTP | None:
        """A live idle connection, or None (open a new one)."""
        while True:
            with self._lock:
                entry = self._idle.pop() if self._idle else None
            if entry is None:
                return None
            since, smtp = entry
            idle = time.monotonic() - since
            if idle > self.idle_s:
                _close(smtp)
                continue
            if idle > self.probe_after_s:
                try:
                    if smtp.noop()[0] != 250:
                        raise smtplib.SMTPServerDisconnected("NOOP refused")
                except (OSError, smtplib.SMTPException):
                    _close(smtp)
                    continue
            return smtp

    def give_back(self, smtp: smtplib.SMTP) -> None:
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append((time.monotonic(), smtp))
                return
        _close(smtp)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for _, smtp in idle:
            _close(smtp)


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except Exception:
        smtp.close()


def _connect(host: str, port: int, timeouts: SmtpTimeouts) -> smtplib.SMTP:
    smtp = smtplib.SMTP(timeout=timeouts.greeting_s)
    try:
        code, _ = smtp.connect(host, port)
        _check(code, (220,), "greeting")
        assert smtp.sock is not None
        smtp.sock.settimeout(timeouts.command_s)
        code, _ = smtp.ehlo()
        if code != 250:
            _check(smtp.helo()[0], (250,), "HELO")
    except BaseException:
        smtp.close()
        raise
    return smtp


def send_email(host: str, port: int, timeouts: SmtpTimeouts, *, delivery_id: str, sender: str, recipient: str,
               subject: str, body: str, workflow_id: str, before_final_dot: Callable[[], None] | None = None,
               pool: SmtpPool | None = None) -> str:
    msg = build_message(delivery_id=delivery_id, sender=sender, recipient=recipient, subject=subject, body=body,
                        workflow_id=workflow_id)
    data = msg.as_bytes(policy=WIRE_POLICY)
    data = re.sub(rb"(?m)^\.", b"..", data)  # dot-stuffing
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    smtp = pool.take() if pool is not None else None
    reusable = False
    try:
        try:
            if smtp is None:
                smtp = _connect(host, port, timeouts)
                if pool is not None:
                    pool.opened += 1
            assert smtp.sock is not None
            smtp.sock.settimeout(timeouts.command_s)
            _check(smtp.mail(sender)[0], (250,), "MAIL")
            _check(smtp.rcpt(recipient)[0], (250, 251), "RCPT")
            smtp.sock.settimeout(timeouts.data_init_s)
            _check(smtp.docmd("DATA")[0], (354,), "DATA")
            smtp.sock.settimeout(timeouts.data_block_s)
            smtp.send(data)
        except (PermanentSmtpError, TemporarySmtpError):
            raise
        except (OSError, smtplib.SMTPException) as exc:  # refused, reset, timed out: nothing accepted yet
            raise TemporarySmtpError(exc.__class__.__name__) from None
        if before_final_dot is not None:
            before_final_dot()
        try:
            smtp.sock.settimeout(timeouts.final_s)
            smtp.send(b".\r\n")
            code, _ = smtp.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            raise AmbiguousDelivery(exc.__class__.__name__) from None
        _check(code, (250,), "end of data")
        reusable = True
        return str(msg["Message-ID"])
    finally:
        if smtp is not None:
            if reusable and pool is not None:
                pool.give_back(smtp)
            else:
                _close(smtp)

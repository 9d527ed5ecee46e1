"""What the SMTP client knows after each kind of server behaviour (a scripted server on a
loopback socket): 4xx and refusals are temporary, 5xx permanent, a slow final reply is waited
for, and silence after the end of data is ambiguous - never a reason to send again."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from services.delivery.smtp import AmbiguousDelivery, PermanentSmtpError, SmtpTimeouts, TemporarySmtpError, send_email


def scripted_server(final: bytes | None, delay_s: float = 0.0, rcpt: bytes = b"250 ok") -> tuple[int, list[bytes]]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    received: list[bytes] = []

    def serve() -> None:
        conn, _ = srv.accept()
        f = conn.makefile("rb")
        conn.sendall(b"220 test\r\n")
        while line := f.readline():
            cmd = line.strip().upper()
            if cmd.startswith((b"EHLO", b"HELO")):
                conn.sendall(b"250 test\r\n")
            elif cmd.startswith(b"MAIL"):
                conn.sendall(b"250 ok\r\n")
            elif cmd.startswith(b"RCPT"):
                conn.sendall(rcpt + b"\r\n")
            elif cmd == b"DATA":
                conn.sendall(b"354 go\r\n")
                while (data := f.readline()) != b".\r\n":
                    received.append(data)
                if final is None:
                    time.sleep(3)  # never answers within the client's final timeout
                    break
                time.sleep(delay_s)
                conn.sendall(final + b"\r\n")
            elif cmd == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                break
        conn.close()
        srv.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1], received


def send(port: int, final_s: float = 5.0, marks: list[str] | None = None) -> str:
    return send_email("127.0.0.1", port, SmtpTimeouts(greeting_s=5, command_s=5, data_init_s=5, data_block_s=5, final_s=final_s),
                      delivery_id="d1", sender="a@shop.example", recipient="b@example.com", subject="s", body=".dot\nbody",
                      workflow_id="wf", before_final_dot=(lambda: marks.append("data-sent")) if marks is not None else None)


def test_a_slow_final_reply_is_waited_for_and_dots_are_stuffed():
    port, received = scripted_server(b"250 queued", delay_s=1.0)
    marks: list[str] = []
    assert send(port, marks=marks) == "<d1@universal-framework.local>"
    assert marks == ["data-sent"] and b"..dot\r\n" in received


def test_temporary_and_permanent_replies():
    port, _ = scripted_server(b"451 try later")
    with pytest.raises(TemporarySmtpError):
        send(port)
    port, _ = scripted_server(b"250 ok", rcpt=b"550 no such user")
    with pytest.raises(PermanentSmtpError):
        send(port)


def test_refused_connection_is_temporary():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(TemporarySmtpError):
        send(port)


def test_silence_after_the_end_of_data_is_ambiguous():
    port, _ = scripted_server(None)
    marks: list[str] = []
    with pytest.raises(AmbiguousDelivery):
        send(port, final_s=0.5, marks=marks)
    assert marks == ["data-sent"], "the point of no return was recorded before the dot"


@pytest.mark.parametrize("sender, recipient, subject, body", [
    ("news@acme.example", "ann@example.com", "Spring news", "Hello Ann,\n\n.leading dot\nbye"),
    ("Acme News <news@acme.example>", "Zoë Müller <zoe@example.de>", "Grüße – Frühling ☀", "Liebe Zoë,\n" + "ä" * 2000),
    ("news@acme.example", "bob@example.com", "x" * 300, "line " * 400),
])
def test_a_message_is_byte_for_byte_what_the_stock_email_policies_make(sender, recipient, subject, body):
    """The delivery service reuses the header classes the `email` package would otherwise build
    anew for every header; what goes on the wire must not change by a byte."""
    from email.message import EmailMessage
    from email.policy import SMTP, default

    from services.delivery.smtp import WIRE_POLICY, build_message

    ours = build_message(delivery_id="d-1", sender=sender, recipient=recipient, subject=subject, body=body, workflow_id="wf-1")
    stock = EmailMessage(policy=default)  # build_message's steps, stock policy
    stock["From"], stock["To"], stock["Subject"], stock["Date"] = sender, recipient, subject, ours["Date"]
    stock["Message-ID"], stock["X-UF-Workflow-Id"], stock["X-UF-Delivery-Id"] = ours["Message-ID"], "wf-1", "d-1"
    stock.set_content(body)
    assert ours.as_bytes(policy=WIRE_POLICY) == stock.as_bytes(policy=SMTP)


@pytest.mark.parametrize("subject", ["a\r\nBcc: evil@example.com", "a\nBcc: evil@example.com"])
def test_a_header_value_with_a_line_break_is_refused(subject):
    from services.delivery.smtp import build_message

    with pytest.raises(ValueError):
        build_message(delivery_id="d-1", sender="news@acme.example", recipient="ann@example.com", subject=subject,
                      body="b", workflow_id="wf-1")

"""Sending one email over SMTP. The Message-ID is derived from the delivery id, so the same
delivery always carries the same id (receivers can de-duplicate too)."""
from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate


class PermanentSmtpError(Exception):
    """5xx: retrying will not help."""


def message_id(delivery_id: str) -> str:
    return f"<{delivery_id}@universal-framework.local>"


def send_email(host: str, port: int, timeout_s: float, *, delivery_id: str, sender: str, recipient: str,
               subject: str, body: str, workflow_id: str) -> str:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, recipient, subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id(delivery_id)
    msg["X-UF-Workflow-Id"] = workflow_id
    msg["X-UF-Delivery-Id"] = delivery_id
    msg.set_content(body)
    try:
        with smtplib.SMTP(host, port, timeout=timeout_s) as smtp:
            smtp.send_message(msg)
    except smtplib.SMTPResponseException as exc:
        if 500 <= exc.smtp_code < 600:
            raise PermanentSmtpError(f"SMTP {exc.smtp_code}") from None
        raise
    except smtplib.SMTPRecipientsRefused:
        raise PermanentSmtpError("recipient refused") from None
    return msg["Message-ID"]

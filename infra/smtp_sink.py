"""SMTP sink for local development and tests: accepts every message, delivers nowhere.

Each message received is stored as  <dir>/messages/<timestamp>-<id>.eml  and indexed by one JSON line
appended to  <dir>/index.jsonl :

    {"message_id", "mail_from", "rcpt_tos", "subject", "received_at", "file"}

Both files are fsync'ed before the SMTP transaction is acknowledged (250), so a test that has just
sent a mail with smtplib can read the index immediately.

Runs with the project venv (needs aiosmtpd); infra/stack.py starts it as
    .venv/bin/python infra/smtp_sink.py --host 127.0.0.1 --port 10025 --dir var/smtp
"""
from __future__ import annotations

import argparse
import email
import email.policy
import email.utils
import json
import logging
import os
import signal
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.controller import Controller

log = logging.getLogger("smtp_sink")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SinkHandler:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.messages = root / "messages"
        self.index = root / "index.jsonl"
        self.messages.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        content: bytes = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        msg = email.message_from_bytes(content, policy=email.policy.default)

        message_id = (msg.get("Message-ID") or "").strip()
        if not message_id:
            message_id = email.utils.make_msgid(domain="uf-smtp-sink.local")
            content = f"Message-ID: {message_id}\r\n".encode() + content
        try:
            subject = str(msg.get("Subject") or "")
        except Exception:  # undecodable header: keep the raw value
            subject = str(msg.get_all("Subject", [""])[0])

        now = datetime.now(UTC)
        name = f"{now.strftime('%Y%m%dT%H%M%S.%fZ')}-{uuid.uuid4().hex[:8]}.eml"
        path = self.messages / name
        tmp = path.with_suffix(".eml.tmp")
        with open(tmp, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(self.messages)

        entry = {
            "message_id": message_id,
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "subject": subject,
            "received_at": now.isoformat(),
            "file": str(path),
        }
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            fd = os.open(self.index, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
        # recipients and subject stay in the stored message, never in the log (logs keep no PII)
        log.info("stored %s (%d recipient(s))", message_id, len(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=os.environ.get("UF_SMTP_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("UF_SMTP_PORT", "10025")))
    parser.add_argument("--dir", default=str(Path(__file__).resolve().parent.parent / "var" / "smtp"))
    args = parser.parse_args()

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO
    root = Path(args.dir).resolve()
    handler = SinkHandler(root)
    controller = Controller(
        handler,
        hostname=args.host,
        port=args.port,
        server_hostname="uf-smtp-sink",
        ident="Universal Framework SMTP sink",
        data_size_limit=50 * 1024 * 1024,
        enable_SMTPUTF8=True,
        decode_data=False,
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    controller.start()
    log.info("listening on %s:%s, storing into %s", args.host, args.port, root)
    try:
        while not stop.wait(3600):
            pass
    finally:
        controller.stop()
        log.info("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Structured JSON logs on stdout, passed through the PII privacy filter before formatting,
so no service can log a clear email, phone, card or SSN by accident."""
from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from services.kit.runtime import telemetry

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                doc[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            doc["exc"] = record.exc_text
        return json.dumps(doc, ensure_ascii=False)


def _count_redactions(findings: list[Any]) -> None:
    """PII reached a log call: count it by type (the alert `PiiInLogLine` tells someone to fix the call site)."""
    for finding in findings:
        telemetry.LOG_REDACTIONS.labels(finding.type).inc()


def configure_logging(service: str, level: str = "INFO") -> None:
    """Install the JSON handler with the privacy filter on the root logger (idempotent)."""
    from uf_pii.log_filter import PrivacyFilter  # the PII service owns detection

    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(PrivacyFilter(on_findings=_count_redactions))
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka", "opensearch", "urllib3", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

"""Privacy log filter: keep PII out of every log line a service writes.

Why a filter on *handlers*: PII reaches logs through four doors — the
message, its ``%`` args, ``extra=`` fields, and exception/stack text — and
formatters, JSON encoders and shippers read all four.  A ``logging.Filter``
attached to each handler sees every record that handler emits (a filter on a
logger does not see records propagated from child loggers), and rewrites the
record in place before any formatter runs.  It uses the structured-only
engine (e-mail, phone, SSN, SIN, card, IBAN, IP): no spaCy, so it is cheap
enough for the logging hot path and cannot stall on model loading.

Usage (stdlib logging)::

    from uf_pii.log_filter import install
    logging.basicConfig(...)
    install()                      # root logger + all its handlers

Usage (structlog)::

    structlog.configure(processors=[..., redact_event_dict, JSONRenderer()])

Trade-off, on purpose: after filtering, ``record.args`` is ``None`` (the
message is pre-formatted and redacted) and ``record.exc_info`` is ``None``
with the redacted traceback in ``record.exc_text`` — so no later handler or
error reporter can re-render the original exception text with PII in it.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from uf_pii import Engine, Finding, Operator, Replace, redact

__all__ = [
    "PiiRedactingFilter", "PrivacyFilter", "install", "redact_event_dict", "StructlogPiiRedactor", "structured_engine",
]

_MARK = "_uf_pii_redacted"
_RESERVED = frozenset(vars(logging.LogRecord("x", logging.INFO, __file__, 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    _MARK,
}
_MAX_DEPTH = 6
_FORMATTER = logging.Formatter()

_engine_lock = threading.Lock()
_engine: Engine | None = None


def structured_engine() -> Engine:
    """Process-wide structured-only engine shared by all filters/processors."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = Engine.structured()
    return _engine


# Opaque ids in log lines - request/trace/span ids, digests: 32, 40 or 64 hex characters, or a
# canonical UUID, mixing hex letters and digits, standing alone as a token (after "=", ":", a quote
# or a space; never touching "@", ".", "-", "+" or "%", so never part of an e-mail, host, number or
# URL-encoded value).  Why a gate before the engine: a random hex id holds digit runs of 7-12 digits
# in a third of lines, which wakes the phone, SSN, SIN and card recognizers on every such line, yet
# none of them can report digits glued to letters, and no PII type is written as 32+ hex characters
# (an IBAN is at most 34 characters and starts with its country's two letters, a card or phone
# number has no letters).  The id is replaced by as many "x" before the engine runs (same length:
# the findings' offsets hold for the original line; still one token, so labels before it keep their
# meaning).
_HEX = "0-9a-fA-F"
_OPAQUE_ID = re.compile(
    rf"(?<![\w@.\-+%])(?=[0-9\-]*[a-fA-F])(?=[a-fA-F\-]*[0-9])"
    rf"(?:[{_HEX}]{{8}}-[{_HEX}]{{4}}-[{_HEX}]{{4}}-[{_HEX}]{{4}}-[{_HEX}]{{12}}|[{_HEX}]{{64}}|[{_HEX}]{{40}}|[{_HEX}]{{32}})"
    rf"(?![\w@.\-%])"
)


def _opaque_ids_masked(value: str) -> str:
    """``value`` with opaque ids (see :data:`_OPAQUE_ID`) turned into runs of "x", same length."""
    if len(value) < 32 or _OPAQUE_ID.search(value) is None:
        return value
    return _OPAQUE_ID.sub(lambda m: "x" * (m.end() - m.start()), value)


_CLEAN_MAX_ENTRIES = 8192
_CLEAN_MAX_CHARS = 200


class _Redactor:
    """Redacts strings and (recursively) containers with one engine/operator."""

    def __init__(self, engine: Engine | None, operator: Operator | None,
                 on_findings: Callable[[list[Finding]], None] | None = None) -> None:
        self._engine = engine
        self.operator: Operator = operator or Replace()
        self.on_findings = on_findings
        # Short strings the engine found clean: a service logs the same handler names, event
        # types, messages and ids over and over (one "event handled" line per record), and the
        # same engine finds the same nothing in the same text - a hit is as strong as a rescan.
        # Only clean texts are kept (nothing the engine called PII stays in memory); bounded.
        self._clean: set[str] = set()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = structured_engine()
        return self._engine

    def text(self, value: str) -> str:
        """``value`` with every structured PII finding replaced."""
        if len(value) < 6:
            return value
        # Keyed by the masked text: one template logged with a new request id each time is one entry.
        masked = _opaque_ids_masked(value)
        if masked in self._clean:
            return value
        findings: list[Finding] = self.engine.scan(masked)
        if not findings:
            if len(masked) <= _CLEAN_MAX_CHARS:
                if len(self._clean) >= _CLEAN_MAX_ENTRIES:
                    self._clean.clear()
                self._clean.add(masked)
            return value
        if self.on_findings is not None:
            self.on_findings(findings)
        return redact(value, findings, self.operator)

    def value(self, value: Any, depth: int = 0) -> Any:
        """Redact strings inside ``value``; other objects only if their ``str`` has PII."""
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, (bool, float)):
            return value
        if isinstance(value, int):
            if abs(value) < 1_000_000:
                return value
            as_text = str(value)
            cleaned = self.text(as_text)
            return value if cleaned == as_text else cleaned
        if depth >= _MAX_DEPTH:
            return self._stringy(value)
        if isinstance(value, dict):
            return {k: self.value(v, depth + 1) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            items = [self.value(v, depth + 1) for v in value]
            return items if isinstance(value, list) else type(value)(items) if not isinstance(value, tuple) else tuple(items)
        if isinstance(value, BaseException):
            return self._stringy(value)
        return self._stringy(value)

    def _stringy(self, value: Any) -> Any:
        try:
            as_text = str(value)
        except Exception:
            return value
        cleaned = self.text(as_text)
        return value if cleaned == as_text else cleaned


class PiiRedactingFilter(logging.Filter):
    """``logging.Filter`` that redacts PII in message, args, extras and exception text.

    Always returns True (it never drops records).  Idempotent: a record passing
    through several handlers is only processed once.
    """

    def __init__(self, engine: Engine | None = None, operator: Operator | None = None, name: str = "",
                 on_findings: Callable[[list[Finding]], None] | None = None) -> None:
        """``on_findings`` is told what was redacted (e.g. to count it in a metric; the findings
        carry types and offsets, the caller must not keep the text)."""
        super().__init__(name)
        self._redactor = _Redactor(engine, operator, on_findings)

    def redact_text(self, text: str) -> str:
        """Redact one string with this filter's engine and operator."""
        return self._redactor.text(text)

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _MARK, False):
            return True
        r = self._redactor
        try:
            message = record.getMessage()
        except Exception:
            record.msg = r.value(record.msg)
            record.args = r.value(record.args) if record.args else record.args
        else:
            record.msg = r.text(message)
            record.args = None
        for key, value in list(vars(record).items()):
            if key not in _RESERVED:
                setattr(record, key, r.value(value))
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = _FORMATTER.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = r.text(record.exc_text)
        if record.stack_info:
            record.stack_info = r.text(record.stack_info)
        setattr(record, _MARK, True)
        return True


PrivacyFilter = PiiRedactingFilter
"""Name used by ``services.kit.runtime.logs.configure_logging``."""


def install(
    logger: logging.Logger | None = None,
    *,
    engine: Engine | None = None,
    operator: Operator | None = None,
    handlers: Iterable[logging.Handler] | None = None,
) -> PiiRedactingFilter:
    """Attach one :class:`PiiRedactingFilter` to ``logger`` (root) and its handlers.

    Call it after handlers are configured; handlers added later need
    ``handler.addFilter(filter)`` with the returned filter.
    """
    target = logger if logger is not None else logging.getLogger()
    pii_filter = PiiRedactingFilter(engine, operator)
    target.addFilter(pii_filter)
    for handler in handlers if handlers is not None else target.handlers:
        handler.addFilter(pii_filter)
    return pii_filter


class StructlogPiiRedactor:
    """structlog processor ``(logger, method_name, event_dict) -> event_dict``.

    Redacts every value (recursively); an ``exc_info`` entry is rendered to a
    redacted ``exception`` string (like structlog's ``format_exc_info``) so
    renderers never see the raw exception.
    """

    def __init__(self, engine: Engine | None = None, operator: Operator | None = None) -> None:
        self._redactor = _Redactor(engine, operator)

    def __call__(self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        exc_info = event_dict.pop("exc_info", None)
        if exc_info:
            if exc_info is True:
                import sys

                exc_info = sys.exc_info()
            if isinstance(exc_info, BaseException):
                exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
            if isinstance(exc_info, tuple) and exc_info[0] is not None:
                event_dict["exception"] = "".join(traceback.format_exception(*exc_info)).rstrip("\n")
        for key, value in list(event_dict.items()):
            event_dict[key] = self._redactor.value(value)
        return event_dict


_default_processor: StructlogPiiRedactor | None = None


def redact_event_dict(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Default structlog processor using the shared structured engine and type tags."""
    global _default_processor
    if _default_processor is None:
        _default_processor = StructlogPiiRedactor()
    return _default_processor(logger, method_name, event_dict)

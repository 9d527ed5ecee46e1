"""Privacy log filter: PII never reaches formatted output (msg, args, extra, exceptions)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from uf_pii.log_filter import PiiRedactingFilter, PrivacyFilter, StructlogPiiRedactor, install, redact_event_dict

EMAIL = "jane.doe@example.com"
PHONE = "+1 415-555-0132"
CARD = "4111 1111 1111 1111"
SSN = "138-73-1034"
SECRETS = (EMAIL, PHONE, CARD, SSN, "4111111111111111", "415-555-0132", "138731034")


class _Json(logging.Formatter):
    """A JSON formatter that dumps every extra field, like structured log shippers do."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {k: str(v) for k, v in vars(record).items() if not k.startswith("_")}
        doc["message"] = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        doc["exc"] = record.exc_text or ""
        return json.dumps(doc)


@pytest.fixture()
def capture() -> Iterator[tuple[logging.Logger, io.StringIO, io.StringIO]]:
    logger = logging.getLogger("uf.test.pii")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    text_buf, json_buf = io.StringIO(), io.StringIO()
    text_handler = logging.StreamHandler(text_buf)
    text_handler.setFormatter(logging.Formatter("%(levelname)s %(message)s %(card)s", defaults={"card": "-"}))
    json_handler = logging.StreamHandler(json_buf)
    json_handler.setFormatter(_Json())
    logger.handlers = [text_handler, json_handler]
    install(logger)
    yield logger, text_buf, json_buf
    logger.handlers = []
    logger.filters = []


def _assert_clean(*outputs: str) -> None:
    for output in outputs:
        for secret in SECRETS:
            assert secret not in output, f"{secret!r} leaked into {output!r}"


def test_message_args_extra_and_exception(capture) -> None:  # type: ignore[no-untyped-def]
    logger, text_buf, json_buf = capture
    logger.info(f"user {EMAIL} card {CARD}")
    logger.info("call %s about SSN %s", PHONE, SSN)
    logger.info("payment", extra={"card": CARD, "contact": {"email": EMAIL, "phones": [PHONE]}, "pan": 4111111111111111})
    try:
        raise ValueError(f"lookup failed for {EMAIL} / {SSN} / {CARD}")
    except ValueError:
        logger.exception("failed for %s", PHONE)
    logger.warning("with stack %s", "x", stack_info=True, extra={"note": f"ssn {SSN}"})
    text, js = text_buf.getvalue(), json_buf.getvalue()
    _assert_clean(text, js)
    assert "<EMAIL_ADDRESS>" in text and "<CREDIT_CARD>" in text and "<PHONE_NUMBER>" in text and "<US_SSN>" in text
    assert "ValueError: lookup failed for <EMAIL_ADDRESS> / <US_SSN> / <CREDIT_CARD>" in text
    assert "Traceback" in js


def test_exception_in_args_object(capture) -> None:  # type: ignore[no-untyped-def]
    logger, text_buf, json_buf = capture
    logger.error("boom: %r", RuntimeError(f"card {CARD}"))
    _assert_clean(text_buf.getvalue(), json_buf.getvalue())


def test_bad_format_args_still_redacted(capture) -> None:  # type: ignore[no-untyped-def]
    logger, text_buf, _ = capture
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s %s", (EMAIL,), None)
    PiiRedactingFilter().filter(record)
    assert EMAIL not in str(record.args) and record.msg == "%s %s"


def test_filter_is_idempotent_and_never_drops() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "mail %s", (EMAIL,), None)
    flt = PrivacyFilter()
    assert flt.filter(record) and flt.filter(record)
    assert record.getMessage() == "mail <EMAIL_ADDRESS>"


def test_installs_on_root_by_default() -> None:
    root = logging.getLogger()
    handler = logging.StreamHandler(io.StringIO())
    root.addHandler(handler)
    try:
        flt = install()
        assert flt in root.filters and flt in handler.filters
    finally:
        root.removeHandler(handler)
        root.removeFilter(flt)


def test_structlog_processor() -> None:
    try:
        raise KeyError(f"no account for {EMAIL}")
    except KeyError:
        event = redact_event_dict(None, "error", {"event": f"charge {CARD}", "user": {"phone": PHONE},
                                                  "exc_info": sys.exc_info(), "ids": (SSN, 7)})
    rendered = json.dumps(event)
    _assert_clean(rendered)
    assert event["event"] == "charge <CREDIT_CARD>"
    assert "exc_info" not in event and "KeyError" in event["exception"]
    assert event["ids"] == ("<US_SSN>", 7)


def test_structlog_processor_custom_operator() -> None:
    from uf_pii import Mask

    processor = StructlogPiiRedactor(operator=Mask())
    assert processor(None, "info", {"event": f"mail {EMAIL}"})["event"] == "mail ****.***@*******.***"


@contextlib.contextmanager
def engine_scans(f: PiiRedactingFilter) -> Iterator[list[str]]:
    """The texts the filter hands its engine while the block runs (the engine's scan, wrapped)."""
    scans: list[str] = []
    engine = f._redactor.engine
    original = engine.scan

    def counting_scan(text: str):  # type: ignore[no-untyped-def]
        scans.append(text)
        return original(text)

    engine.scan = counting_scan  # type: ignore[method-assign]
    try:
        yield scans
    finally:
        engine.scan = original  # type: ignore[method-assign]


def test_clean_texts_are_remembered_and_pii_is_still_redacted_every_time() -> None:
    """Clean short strings are scanned once per filter (issue 11: one "event handled" line per
    consumed record); a string with PII is never remembered, so it is redacted every time, also
    next to remembered clean ones."""
    seen: list[int] = []
    f = PiiRedactingFilter(on_findings=lambda found: seen.append(len(found)))
    with engine_scans(f) as scans:
        for _ in range(3):
            assert f.redact_text("event handled for wf-123456") == "event handled for wf-123456"
            assert EMAIL not in f.redact_text(f"contact {EMAIL}")
    assert scans.count("event handled for wf-123456") == 1
    assert scans.count(f"contact {EMAIL}") == 3
    assert len(seen) == 3
    assert f"contact {EMAIL}" not in f._redactor._clean


def test_opaque_ids_are_not_scanned_but_pii_next_to_them_is() -> None:
    """Request ids and digests (32/40/64 hex characters or a UUID, one token) are masked before the
    engine runs: their digit runs never wake the phone/SSN/card recognizers, and one log template
    with a new id per line is remembered as clean once."""
    f = PiiRedactingFilter()
    with engine_scans(f) as scans:
        ids = ("5551234567abcdef0123456789abcdef", "a4111111111111111b23456789abcdef",
               "0d1e2f3a4b5c6d7e8f90123456789012345678ab", "12345678-9abc-4def-8123-456789abcdef")
        for request_id in ids:
            line = f"GET /api/v1/orders status=200 request_id={request_id}"
            assert f.redact_text(line) == line
        assert len(scans) == 3  # the two 32-hex ids mask to the same line, remembered as clean once
        assert "5551234567" not in scans[0]
        # PII next to an id is still found, with offsets of the original line.
        line = f"request_id={ids[0]} caller={PHONE} card={CARD}"
        redacted = f.redact_text(line)
        assert ids[0] in redacted and PHONE not in redacted and CARD not in redacted
    # Only whole tokens of those lengths: a shorter or glued hex run, an e-mail's local part and
    # a number of all digits are scanned as they are.
    from uf_pii.log_filter import _opaque_ids_masked

    for text in ("id=5551234567abcdef", "deadbeef0123456789abcdef01234567@example.com",
                 "n=41111111111111111111111111111111", "x-5551234567abcdef0123456789abcdef"):
        assert _opaque_ids_masked(text) == text, text

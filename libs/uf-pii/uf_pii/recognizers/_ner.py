"""Shared span clean-up for spaCy-based recognizers.

Why: the statistical model's raw entity spans carry noise that is cheap to
remove and would otherwise be false positives or ragged redactions: leading
articles ("the Golden Gate Bridge"), possessive "'s", surrounding quotes and
brackets, and tokens that are clearly technical (log levels, HTTP verbs,
PII type names, anything with digits, "@" or "://").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from uf_pii.finding import Explanation, Finding
from uf_pii.nlp import SpacyBackend, shared_backend
from uf_pii.recognizer import BaseRecognizer

_STRIP = " \t\n\"'`“”‘’()[]{}<>,;:.!?*|/\\=-_"
_LEADING_WORDS = ("the ", "The ", "THE ")
_TECH_WORDS = frozenset(
    ["info", "debug", "warn", "warning", "error", "fatal", "trace", "critical", "get", "post", "put", "patch", "delete", "head", "options", "http", "https", "json", "xml", "yaml", "csv", "api", "url", "uri", "uuid", "id", "ip", "ipv4", "ipv6", "iban", "ssn", "sin", "pan", "cvv", "dob", "email", "e-mail", "phone", "tel", "fax", "user", "admin", "null", "none", "true", "false", "utc", "gmt", "iso", "visa", "mastercard", "amex", "maestro", "jcb", "discover", "diners", "unionpay", "sha", "md5", "hmac", "aes", "rsa", "ok", "n/a"]
)


_CALENDAR_WORDS = frozenset(
    ["jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "january", "february", "march", "july", "august", "september", "october", "november", "december", "mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
)


def clean_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Trim a raw entity span; ``None`` when nothing plausible remains."""
    while start < end and text[start] in _STRIP:
        start += 1
    while end > start and text[end - 1] in _STRIP:
        end -= 1
    for word in _LEADING_WORDS:
        if text.startswith(word, start) and end - start > len(word):
            start += len(word)
            break
    for suffix in ("'s", "’s", "'S"):
        if text.endswith(suffix, start, end) and end - start > len(suffix):
            end -= len(suffix)
            break
    if end - start < 2:
        return None
    value = text[start:end]
    if any(ch.isdigit() for ch in value) or "@" in value or "://" in value:
        return None
    if value.lower() in _TECH_WORDS or not any(ch.isalpha() for ch in value):
        return None
    if not any(ch.isupper() for ch in value):
        return None  # all lower case: the cased model is guessing ("kyc check")
    if value.lower().rstrip(".") in _CALENDAR_WORDS:
        return None
    return start, end


def entity_findings(
    text: str, entities: Iterable[tuple[str, int, int]], labels: Iterable[str], type_name: str, recognizer: str,
    score: float, version: str = "", model: str = "",
) -> list[Finding]:
    """Findings for ``(label, start, end)`` entities whose label is in ``labels``."""
    wanted = frozenset(labels)
    findings: list[Finding] = []
    for label, start, end in entities:
        if label not in wanted:
            continue
        span = clean_span(text, start, end)
        if span is not None:
            explain = Explanation(recognizer, version, "model", f"spaCy NER label {label}", model, score, score)
            findings.append(Finding(type_name, span[0], span[1], score, recognizer, version, explain))
    return findings


class NerRecognizer(BaseRecognizer):
    """A recognizer for spaCy entity labels. Subclasses set `name`, `type_name` and `LABELS`;
    they share one backend so each text is parsed once, and `detect_doc` lets the engine batch
    parsing through `nlp.pipe`."""

    requires_nlp = True
    LABELS: tuple[str, ...] = ()
    SCORE = 0.85

    def __init__(self, backend: SpacyBackend | None = None) -> None:
        self.backend = backend or shared_backend()

    def detect(self, text: str) -> list[Finding]:
        return self.detect_doc(text, self.backend.parse(text))

    def detect_doc(self, text: str, doc: Any) -> list[Finding]:
        """``doc`` is the backend's ``(label, start, end)`` entity list for ``text``."""
        return entity_findings(text, doc, self.LABELS, self.type_name, self.name, self.SCORE, self.version,
                               getattr(self.backend, "model", ""))

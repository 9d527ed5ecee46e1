"""A third-party-style recognizer used by the entry-point tests (no engine imports needed)."""

from __future__ import annotations

import re

from uf_pii import Finding

_BADGE = re.compile(r"\bBADGE-[0-9]{5}\b")


class BadgeRecognizer:
    """Duck-typed plug-in: name, type_name, detect(); no base class."""

    name = "acme_badge"
    type_name = "ACME_BADGE"

    def detect(self, text: str) -> list[Finding]:
        return [Finding(self.type_name, m.start(), m.end(), 0.9, self.name) for m in _BADGE.finditer(text)]


def make_recognizers() -> list[BadgeRecognizer]:
    """Factory form of an entry point."""
    recognizer = BadgeRecognizer()
    recognizer.name = "acme_badge_factory"
    return [recognizer]


def broken() -> None:
    raise RuntimeError("plug-in exploded")

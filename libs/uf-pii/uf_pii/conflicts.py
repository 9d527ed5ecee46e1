"""Resolve a national id and a phone number claiming the same digits, by their evidence.

Why: nine bare digits such as ``030123456`` are a valid SSN *and* a valid German national phone
number.  Each recognizer scores its own reading with the context it sees, but their windows differ
(a phone word in the next chat message is 30 characters away too), so comparing scores alone lets
the wrong one win.  The rule here compares kinds of evidence instead: a bare nine-digit run is
reported as a national id only with id evidence (a label, a column header / JSON key, or id words
nearby), and it stays one unless the phone reading has stronger evidence of its own - written
internationally (``+``/``00``), or a phone label right before the digits ("Tel: ", "call me on ").
The losing reading is named in the winner's explanation (``overruled``).
"""

from __future__ import annotations

import re
from dataclasses import replace

from uf_pii.finding import Finding

_ID_TYPES = frozenset({"US_SSN", "CA_SIN"})
_PHONE_LABEL = re.compile(
    r"(?:tel|phone|telephone|mobile|cell|fax|whatsapp|sms|call|ring|dial|reach)(?:\s+(?:me|us|him|her))?"
    r"(?:\s+(?:at|on|number))?\s*(?:no\.?|number|#)?\s*[:=]?\s*$",
    re.IGNORECASE,
)


def _phone_has_own_evidence(text: str, phone: Finding) -> bool:
    head = text[phone.start : phone.start + 2]
    if head.startswith("+") or head == "00":
        return True
    return _PHONE_LABEL.search(text[max(0, phone.start - 24) : phone.start]) is not None


def resolve_id_phone(text: str, findings: list[Finding]) -> list[Finding]:
    """Drop phone readings of digits that a national-id finding with evidence covers exactly."""
    ids = [f for f in findings if f.type in _ID_TYPES and f.explain is not None and f.explain.context]
    if not ids:
        return findings
    dropped: set[int] = set()
    winners: dict[int, Finding] = {}
    for i, phone in enumerate(findings):
        if phone.type != "PHONE_NUMBER":
            continue
        for national in ids:
            if national.start == phone.start and national.end == phone.end and not _phone_has_own_evidence(text, phone):
                dropped.add(i)
                key = id(national)
                current = winners.get(key, national)
                assert current.explain is not None
                note = f"{phone.type}/{phone.recognizer}@{round(phone.score, 4)} (no phone evidence of its own)"
                winners[key] = replace(current, explain=replace(current.explain, overruled=current.explain.overruled + (note,)))
    if not dropped:
        return findings
    return [winners.get(id(f), f) for i, f in enumerate(findings) if i not in dropped]

"""PHONE_NUMBER: international and national numbers validated by ``phonenumbers``.

Why ``phonenumbers`` and not a regex: only Google's metadata knows which
digit strings are dialable in which country.  We run its matcher at
``Leniency.VALID`` for each configured region, but only on short windows
around digit runs (much cheaper than scanning whole documents once per
region), and add three guards the library does not have:

* trunk-prefix rule: in countries whose national prefix is "0" (GB, DE, FR,
  ...) a number written nationally starts with 0; "1699093353123" (an epoch
  timestamp) is not a German phone number just because it would be valid
  after a "0";
* identifier labels: digits right after "Order #", "tracking no:", "ref=" are
  identifiers even when dialable;
* identifier glue: "ORD-2023-884512" contains "2023-884512", a valid US number,
  but digits glued to letters by "-", "_" or "." are part of an identifier;
* dates and versions: "03.08.2027" and "7.16.76.11959" parse as German/US
  numbers but are a date and a version string.

URL-encoded "+" (``%2B``) is understood so ``?phone=%2B4420...`` is found.
Matching runs on a view that keeps line breaks (so CSV rows and log lines are
not glued to their neighbours), plus a second pass joining lines that only
accepts numbers actually wrapped across a break.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import phonenumbers

from uf_pii.context import continues_iban_groups, has_context, preceded_by_identifier_label
from uf_pii.finding import Finding
from uf_pii.recognizer import BaseRecognizer
from uf_pii.textview import has_digit, has_line_break, line_view, structured_view

DEFAULT_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR", "CA")

_CANDIDATE = re.compile(r"[+(]?[0-9][0-9 ().\-/]{5,}[0-9]")
_ENCODED_PLUS = re.compile(r"%2B(?=[0-9])", re.IGNORECASE)
_GLUE_AFTER = re.compile(r"[\-_.][0-9A-Za-z]")
# Dotted/dashed/slashed dates ("03.08.2027", "2027-08-03") can parse as DE/FR numbers.
_DATE_LIKE = re.compile(
    r"^\s*(?:[0-9]{1,2}[./-][0-9]{1,2}[./-][0-9]{2,4}|[0-9]{4}[./-][0-9]{1,2}[./-][0-9]{1,2})(?![0-9]|[./-][0-9])"
)
# Dotted numbers are phone numbers only as NANP 3.3.4 or with a trunk/international prefix;
# "7.16.76.11959" is a version string.
_EXTENSION = re.compile(r"\s*(?:ext\.?|extension|x|#)\s*[0-9]{1,7}\s*$", re.IGNORECASE)
_NANP_DOTTED = re.compile(r"^\(?[0-9]{3}\)?\.[0-9]{3}\.[0-9]{4}$")
_CONTEXT = ("phone", "tel", "telephone", "call", "mobile", "cell", "fax", "contact", "whatsapp", "sms")


class PhoneRecognizer(BaseRecognizer):
    """Detects phone numbers for a configurable set of ISO 3166 regions."""

    name = "phone"
    type_name = "PHONE_NUMBER"

    INTERNATIONAL_SCORE = 0.95
    NATIONAL_SCORE = 0.75
    CONTEXT_BOOST = 0.1

    def __init__(self, regions: Sequence[str] = DEFAULT_REGIONS) -> None:
        unknown = [r for r in regions if r.upper() not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(f"unknown phone regions: {unknown}")
        self.regions = tuple(r.upper() for r in regions)
        self._trunk: dict[str, str] = {}
        self._idd: dict[str, str] = {}
        seen_codes: set[int] = set()
        # One region per calling code is enough: the US region validates
        # Canadian numbers too (both +1), so CA would only repeat the work.
        self._distinct: list[str] = []
        for region in self.regions:
            meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
            self._trunk[region] = (meta.national_prefix or "") if meta else ""
            self._idd[region] = (meta.preferred_international_prefix or meta.international_prefix or "") if meta else ""
            code = phonenumbers.country_code_for_region(region)
            if code not in seen_codes:
                seen_codes.add(code)
                self._distinct.append(region)

    def detect(self, text: str) -> list[Finding]:
        if not has_digit(text, 7):
            return []
        spans: dict[tuple[int, int], float] = {}
        # Pass 1 keeps line breaks, so CSV rows / log lines are not glued together.
        self._scan(text, _ENCODED_PLUS.sub("  +", line_view(text)), spans, multiline_only=False)
        if has_line_break(text):
            # Pass 2 joins lines, for numbers wrapped across a line break.
            self._scan(text, _ENCODED_PLUS.sub("  +", structured_view(text)), spans, multiline_only=True)
        return [self._finding(s, e, score) for (s, e), score in sorted(spans.items())]

    def _scan(self, text: str, view: str, spans: dict[tuple[int, int], float], *, multiline_only: bool) -> None:
        for start, end, leading in self._windows(text, view, multiline_only):
            window = view[start:end]
            for region in self._regions_for(leading):
                for match in phonenumbers.PhoneNumberMatcher(window, region, leniency=phonenumbers.Leniency.VALID):
                    s, e = start + match.start, start + match.end
                    while e - s > 1 and view[s] in "([" and (")" if view[s] == "(" else "]") not in view[s + 1 : e]:
                        s += 1  # unbalanced opening bracket belongs to the prose: "(+44 20 ...)"
                    if multiline_only and not has_line_break(text[s:e]):
                        continue
                    score = self._score(text, view, s, e, match.raw_string, region)
                    if score is None:
                        continue
                    if text[max(0, s - 2) : s + 1].upper() == "%2B":
                        s -= 2
                    if score > spans.get((s, e), -1.0):
                        spans[(s, e)] = score

    def _regions_for(self, leading: set[str]) -> list[str]:
        """Regions worth running for a window whose candidates start as in ``leading``.

        ``"+"`` needs one region (the number carries its country code); an
        international dialling prefix (``"00"``, ``"011"``) needs one region
        using that prefix; a national number starting with the trunk ``"0"``
        can only belong to trunk-"0" regions, and one starting with any other
        digit only to the others (see module docstring).
        """
        regions: list[str] = []
        for kind in leading:
            if kind == "+":
                wanted = self._distinct[:1]
            elif kind.startswith("idd:"):
                wanted = [kind[4:]]
            elif kind == "0":
                wanted = [r for r in self._distinct if self._trunk[r] == "0"]
            else:
                wanted = [r for r in self._distinct if self._trunk[r] != "0"]
            for region in wanted or self._distinct[:1]:
                if region not in regions:
                    regions.append(region)
        return regions

    def _kinds(self, raw: str) -> set[str]:
        """How a candidate may start: ``"+"``, ``"idd:<region>"``, ``"0"`` or ``"1"``.

        "0114 496 0383" is both a US international prefix (011) and a British
        national number (0114...), so a candidate can have several kinds.
        """
        head = raw.lstrip("( ")
        if head.startswith("+"):
            return {"+"}
        digits = "".join(ch for ch in head[:8] if "0" <= ch <= "9")
        kinds: set[str] = set()
        for region in self._distinct:
            idd = self._idd[region]
            if idd.isdigit() and digits.startswith(idd):
                kinds.add("idd:" + region)
                break
        if digits.startswith("0") and not digits.startswith("00"):
            kinds.add("0")
        return kinds or {"0" if digits.startswith("0") else "1"}

    def _windows(self, text: str, view: str, multiline_only: bool) -> list[tuple[int, int, set[str]]]:
        """Merged windows around digit runs with at least 7 digits.

        Each window also records how its candidates start (see :meth:`_kinds`).
        With ``multiline_only`` only runs that contain a line break are kept.
        """
        windows: list[tuple[int, int, set[str]]] = []
        for cand in _CANDIDATE.finditer(view):
            raw = cand.group(0)
            if sum(1 for ch in raw if "0" <= ch <= "9") < 7:
                continue
            if multiline_only and not has_line_break(text[cand.start() : cand.end()]):
                continue
            kinds = self._kinds(raw)
            start, end = max(0, cand.start() - 4), min(len(view), cand.end() + 20)
            if windows and start <= windows[-1][1]:
                prev = windows[-1]
                windows[-1] = (prev[0], max(end, prev[1]), prev[2] | kinds)
            else:
                windows.append((start, end, kinds))
        return windows

    def _score(self, text: str, view: str, s: int, e: int, raw: str, region: str) -> float | None:
        """Apply the guards from the module docstring; ``None`` rejects."""
        stripped = raw.lstrip("( ")
        main = _EXTENSION.sub("", raw).strip()
        digits = "".join(ch for ch in main if "0" <= ch <= "9")
        if _DATE_LIKE.match(main):
            return None
        if "." in main and not stripped.startswith("+") and not _NANP_DOTTED.match(main):
            # European dotted style "01.23.45.67.89": trunk 0 and no one-digit groups
            # ("0.35.87.14380" is a version string).
            groups = [g for g in re.split(r"[^0-9]+", main) if g]
            if not stripped.startswith("0") or any(len(g) < 2 for g in groups):
                return None
        idd = self._idd.get(region, "")
        international = stripped.startswith("+") or (bool(idd) and idd.isdigit() and digits.startswith(idd))
        if not international and self._trunk.get(region) == "0" and not digits.startswith("0"):
            return None
        if s > 0:
            before = view[s - 1]
            if before.isalnum():
                return None
            if before in "-_." and s > 1 and view[s - 2].isalnum():
                return None
            if before == ":" and s > 1 and view[s - 2].isdigit():
                return None  # time component such as "01:30:06.435745"
            if before == "/" and s > 1 and view[s - 2].isalnum():
                return None  # product token such as "Gecko/20100101"
        if _GLUE_AFTER.match(view, e):
            return None
        if preceded_by_identifier_label(text, s) or continues_iban_groups(view, s):
            return None
        score = self.INTERNATIONAL_SCORE if international else self.NATIONAL_SCORE
        if has_context(view, s, e, _CONTEXT, window=30):
            score += self.CONTEXT_BOOST
        return min(score, 1.0)

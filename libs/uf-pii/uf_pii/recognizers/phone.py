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
* structure: a value that fills a JSON/CSV field named for a quantity (``created_at``,
  ``amount``, ``order``) is that quantity;
* dates and versions: "03.08.2027" and "7.16.76.11959" parse as German/US
  numbers but are a date and a version string.

Numbers of regions outside the configured ones, written nationally without a country code
(India's "098765 43210", Australia's "(03) 5979 1907", Japan's "080-1933-9447"), are found from
``phonenumbers`` metadata rather than a list of formats: when phone words are near a digit run
that no configured region accepts, every region whose national prefix and number lengths fit is
asked whether the number is valid there.  The context requirement is what keeps this from
turning every 0-leading reference number into a phone number.

Cost (the log filter runs this on every line): digit runs that can never be one phone number -
card-shaped runs, IPv4 addresses, ISO timestamps - are blanked before ``phonenumbers`` sees the
window (it spent most of its time on sub-groups of a card number), and its matches are cached per
window text, so a repeated number is matched once.

URL-encoded "+" (``%2B``) is understood so ``?phone=%2B4420...`` is found.
Matching runs on a view that keeps line breaks (so CSV rows and log lines are
not glued to their neighbours), plus a second pass joining lines that only
accepts numbers actually wrapped across a break.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import phonenumbers

from uf_pii.context import context_hits, continues_iban_groups, preceded_by_identifier_label
from uf_pii.finding import Finding
from uf_pii.recognizer import BaseRecognizer
from uf_pii.structure import field_at
from uf_pii.textview import cell_view, has_digit_run, has_line_break, structured_view

DEFAULT_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR", "CA")

_CANDIDATE = re.compile(r"[+(]?[0-9][0-9 ().\-/]{5,}[0-9]")
# Digit runs that are never a phone number, blanked out before the matcher runs (which spends most
# of its time on them, see ``_not_phone_blanked``): card-shaped numbers (4-4-4-4[-n], 4-6-5, or 16+
# digits in one piece: more digits than any phone number, E.164 allows 15); IPv4 addresses (dotted
# groups not led by a trunk 0 or "+", which ``_score`` rejects anyway); ISO dates and times.
_NOT_PHONE = re.compile(
    r"(?<![0-9])(?:[0-9]{4}(?P<s>[ \-])[0-9]{4}(?P=s)[0-9]{4}(?P=s)[0-9]{4}(?:(?P=s)[0-9]{1,3})?"
    r"|[0-9]{4}(?P<t>[ \-])[0-9]{6}(?P=t)[0-9]{4,5}|[0-9]{16,})(?![0-9])"
    r"|(?<![0-9.+])[1-9][0-9]{0,2}(?:\.[0-9]{1,3}){3}(?![0-9]|\.[0-9])"
    r"|(?<![0-9])(?:19|20)[0-9]{2}-[01][0-9]-[0-3][0-9](?:[T ][0-2][0-9]:[0-5][0-9](?::[0-5][0-9](?:[.,][0-9]+)?)?)?(?![0-9])"
)
_ENCODED_PLUS = re.compile(r"%2B(?=[0-9])", re.IGNORECASE)
_GLUE_AFTER = re.compile(r"[\-_.][0-9A-Za-z]")
# Dotted/dashed/slashed dates ("03.08.2027", "2027-08-03") can parse as DE/FR numbers.
_DATE_LIKE = re.compile(
    r"^\s*(?:[0-9]{1,2}[./-][0-9]{1,2}[./-][0-9]{2,4}|[0-9]{4}[./-][0-9]{1,2}[./-][0-9]{1,2})(?![0-9]|[./-][0-9])"
)
# Dotted numbers are phone numbers only as NANP 3.3.4 or with a trunk/international prefix;
# "7.16.76.11959" is a version string.
_EXTENSION = re.compile(r"\s*(?:ext\.?|extension|x|#)\s*[0-9]{1,7}\s*$", re.IGNORECASE)
# An extension after a candidate, inside the matcher's window: "(212) 555-0147, ext. 31", "x31".
_EXTENSION_AFTER = re.compile(r"[\s,;]{0,3}(?:ext\.?|extension|x|#)[\s.:]{0,2}[0-9]{1,7}", re.IGNORECASE)
_SENTENCE_END = re.compile(r"\.\s")
_NANP_DOTTED = re.compile(r"^\(?[0-9]{3}\)?\.[0-9]{3}\.[0-9]{4}$")
_CONTEXT = ("phone", "tel", "telephone", "call", "mobile", "cell", "fax", "contact", "whatsapp", "sms")
# Words that make a number of another region worth looking up (see module docstring).
_REGIONAL_CONTEXT = _CONTEXT + ("reach me", "ring", "dial", "landline", "handy", "portable", "numéro", "phone number")


def _region_table() -> list[tuple[str, str, frozenset[int], re.Pattern[str]]]:
    """``(region, national prefix, possible national lengths, national number pattern)`` per region."""
    table = []
    by_code = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items())
    main = [regions[0] for _, regions in by_code if regions and regions[0] in phonenumbers.SUPPORTED_REGIONS]
    rest = sorted(phonenumbers.SUPPORTED_REGIONS - set(main))
    for region in main + rest:  # a country's main region before its dependencies (GB before GG, JE ...)
        meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
        if meta is None or meta.general_desc is None or not meta.general_desc.national_number_pattern:
            continue
        lengths = frozenset(meta.general_desc.possible_length or ())
        pattern = re.compile(meta.general_desc.national_number_pattern)
        table.append((region, meta.national_prefix or "", lengths, pattern))
    return table


_Scored = tuple[float, float, tuple[str, ...], str]
"""(score, score before context, context words, how it matched)"""
_ALL_REGIONS: list[tuple[str, str, frozenset[int], re.Pattern[str]]] = []
# Field labels (uf_pii.structure) that name a quantity, never a phone number: a "created_at" value
# of 1739615923852 is an epoch timestamp even though it dials somewhere.
_NOT_PHONE_FIELD = re.compile(r"(?:^| )(?:at|time|timestamp|ts|epoch|date|created|updated|modified|amount|total|"
                              r"price|balance|count|size|order|invoice|tracking|version|build|uuid|hash|account|acct)(?: |$)")


def _in_quantity_field(text: str, start: int, end: int) -> bool:
    """True when the span fills a structured field whose name says it is a quantity."""
    field = field_at(text, start, end)
    return field is not None and field.end - field.start <= end - start + 2 and _NOT_PHONE_FIELD.search(field.label) is not None


def _glued_into_a_token(view: str, start: int, end: int) -> bool:
    """True for digits inside a hex id or word ("request_id=6513270e26", "d23f0824128b"): ``_score``
    rejects every match preceded by a letter or digit, and ``phonenumbers`` one followed by a letter
    (except an extension's "x"/"ext"), so the matcher need not run on them."""
    before = view[start - 1] if start > 0 else " "
    after = view[end] if end < len(view) else " "
    return (view[start].isdigit() and (before.isalnum() or before == "_")) or (after.isalpha() and after not in "xXeE")


def _not_phone_blanked(view: str) -> str:
    """``view`` with runs that are never phone numbers turned into spaces (same length: offsets hold)."""
    if _NOT_PHONE.search(view) is None:
        return view
    return _NOT_PHONE.sub(lambda m: " " * (m.end() - m.start()), view)


@lru_cache(maxsize=1024)
def _matches(window: str, region: str) -> tuple[tuple[int, int, str], ...]:
    """``phonenumbers`` matches in one window: ``(start, end, raw)``.

    Cached because it is the expensive step (hundreds of µs for a window with a number in it) and
    log lines repeat: the same caller's number, the same support line, the same template.  The key
    is the window text itself, so a cache hit returns exactly what the matcher would.
    """
    matcher = phonenumbers.PhoneNumberMatcher(window, region, leniency=phonenumbers.Leniency.VALID)
    return tuple((m.start, m.end, m.raw_string) for m in matcher)


_COMPACT_DATE = re.compile(r"^(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])$")


class PhoneRecognizer(BaseRecognizer):
    """Detects phone numbers for a configurable set of ISO 3166 regions."""

    name = "phone"
    type_name = "PHONE_NUMBER"

    INTERNATIONAL_SCORE = 0.95
    NATIONAL_SCORE = 0.75
    REGIONAL_SCORE = 0.75
    CONTEXT_BOOST = 0.1
    version = "2.2.0"

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
        if not has_digit_run(text, 7):
            return []
        spans: dict[tuple[int, int], _Scored] = {}
        # Pass 1 keeps line breaks (and turns tabs into them), so CSV/TSV cells and log lines are not glued.
        view = _not_phone_blanked(_ENCODED_PLUS.sub("  +", cell_view(text)))
        self._scan(text, view, spans, multiline_only=False)
        if has_line_break(text):
            # Pass 2 joins lines, for numbers wrapped across a line break.
            self._scan(text, _not_phone_blanked(_ENCODED_PLUS.sub("  +", structured_view(text))), spans, multiline_only=True)
        # The same blanked view: a card, an IPv4 address or a timestamp is no national number either
        # (an e-mail log line's IPv4 address was looked up for phone words on every line).
        regional = self._regional(text, view, spans)
        out = []
        for (s, e), (score, base, hits, how) in sorted(spans.items()):
            out.append(self._finding(s, e, score, pattern_name=how, pattern="phonenumbers metadata",
                                     original_score=base, context=hits, validation="phonenumbers is_valid_number"))
        return out + regional

    def _regional(self, text: str, view: str, spans: dict[tuple[int, int], _Scored]) -> list[Finding]:
        """National numbers of other regions, only with phone words nearby (see module docstring)."""
        found: list[Finding] = []
        for cand in _CANDIDATE.finditer(view):
            s, e = cand.start(), cand.end()
            raw = cand.group(0)
            digits = "".join(ch for ch in raw if "0" <= ch <= "9")
            if not 7 <= len(digits) <= 13 or raw.startswith("+") or _COMPACT_DATE.match(digits):
                continue
            if any(a < e and s < b for a, b in spans):
                continue
            if s > 0 and (view[s - 1].isalnum() or view[s - 1] in "-_./:"):
                continue
            if _GLUE_AFTER.match(view, e) or _DATE_LIKE.match(raw) or preceded_by_identifier_label(text, s):
                continue
            if _in_quantity_field(text, s, e):
                continue
            hits = context_hits(view, s, e, _REGIONAL_CONTEXT, left=40, right=20)
            if not hits:
                continue
            region = self._valid_elsewhere(digits)
            if region is None:
                continue
            found.append(self._finding(s, e, self.REGIONAL_SCORE, pattern_name=f"national format of {region}",
                                       pattern="phonenumbers metadata", original_score=self.REGIONAL_SCORE - 0.25,
                                       context=hits, validation=f"phonenumbers is_valid_number_for_region({region})",
                                       why="phone words nearby and valid in a region outside the configured ones"))
        return found

    def _valid_elsewhere(self, digits: str) -> str | None:
        """First region (outside the configured ones) in which ``digits`` is a valid national number."""
        if not _ALL_REGIONS:
            _ALL_REGIONS.extend(_region_table())
        for region, prefix, lengths, pattern in _ALL_REGIONS:
            if region in self.regions:
                continue
            nsn = digits[len(prefix):] if prefix and digits.startswith(prefix) else digits
            if len(nsn) not in lengths or not pattern.fullmatch(nsn):
                continue
            try:
                number = phonenumbers.parse(digits, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number_for_region(number, region):
                return region
        return None

    def _scan(self, text: str, view: str, spans: dict[tuple[int, int], _Scored], *,
              multiline_only: bool) -> None:
        for start, end, leading in self._windows(text, view, multiline_only):
            window = view[start:end]
            for region in self._regions_for(leading):
                for m_start, m_end, raw in _matches(window, region):
                    s, e = start + m_start, start + m_end
                    while e - s > 1 and view[s] in "([" and (")" if view[s] == "(" else "]") not in view[s + 1 : e]:
                        s += 1  # unbalanced opening bracket belongs to the prose: "(+44 20 ...)"
                    if multiline_only and not has_line_break(text[s:e]):
                        continue
                    scored = self._score(text, view, s, e, raw, region)
                    if scored is None:
                        continue
                    if text[max(0, s - 2) : s + 1].upper() == "%2B":
                        s -= 2
                    if (s, e) not in spans or scored[0] > spans[(s, e)][0]:
                        spans[(s, e)] = scored

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
            if _glued_into_a_token(view, cand.start(), cand.end()):
                continue
            kinds = self._kinds(raw)
            # The window ends after the candidate, its extension and one more character (the
            # matcher rejects a number followed by a letter): text further on holds no part of this
            # number, only other digit groups ("... for ticket 40012") that the matcher would parse
            # and validate in vain - half of its time on a log line with one phone number.
            after = _EXTENSION_AFTER.match(view, cand.end())
            start, end = max(0, cand.start() - 4), min(len(view), (after.end() if after else cand.end()) + 1)
            if windows and start <= windows[-1][1]:
                prev = windows[-1]
                windows[-1] = (prev[0], max(end, prev[1]), prev[2] | kinds)
            else:
                windows.append((start, end, kinds))
        return windows

    def _score(self, text: str, view: str, s: int, e: int, raw: str, region: str
               ) -> _Scored | None:
        """Apply the guards from the module docstring; ``None`` rejects."""
        stripped = raw.lstrip("( ")
        main = _EXTENSION.sub("", raw).strip()
        digits = "".join(ch for ch in main if "0" <= ch <= "9")
        if _DATE_LIKE.match(main):
            return None
        if _SENTENCE_END.search(main):
            return None  # "exp 09/27.\n25/02 14:11": a sentence ends inside, the lines are not one number
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
        if _in_quantity_field(text, s, e):
            return None
        base = self.INTERNATIONAL_SCORE if international else self.NATIONAL_SCORE
        hits = context_hits(view, s, e, _CONTEXT, window=30)
        score = min(1.0, base + (self.CONTEXT_BOOST if hits else 0.0))
        return score, base, hits, ("international" if international else f"national ({region})")

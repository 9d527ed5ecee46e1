"""STREET_ADDRESS: postal addresses in US, UK, German and French layouts.

Why patterns and not the model: an address is the commonest PII in customer e-mails after a name,
the small NER model has no label for it (at best it tags the town as a place), and Presidio has no
recognizer for it at all.  Each country writes the same three parts - street and house number,
postcode, town - in a fixed order that a pattern can follow:

* US: ``1777 Kramer Court, Apt. 5, Springfield, IL 62704`` (number first, street type word, state
  code and ZIP);
* UK: ``Flat 3, 17 Jones Road, North Holly, S6 7LJ`` (number first, street type word, postcode
  of the Royal Mail format);
* German: ``Hauptstraße 5a, 10115 Berlin`` (street type glued to the name or hyphenated, number
  after it, five-digit PLZ before the town);
* French: ``12 bis, rue de la Paix, 75002 Paris`` (number, lower-case voie type, five-digit code
  before the commune).

The street part alone is reported (an address without its town still locates a person); with the
postcode/town part the span covers it and the score is higher.  Lines of a multi-line address are
followed from part to part (never inside a town name), so a signature block is one finding.
"""

from __future__ import annotations

import re

from uf_pii.finding import Finding
from uf_pii.recognizer import BaseRecognizer
from uf_pii.textview import has_digit, line_view

_UP = "A-ZÀ-ÖØ-Þ"
_WORD = rf"[{_UP}][\w'’\-]*\.?"
_TWORD = rf"[{_UP}][\w'’\-]*"  # a word of a town name: no trailing dot (". Thanks" ends the address)
_EN_TYPES = (
    "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Way|Terrace|Ter|Circle|Cir|"
    "Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Close|Crescent|Gardens|Grove|Hill|Mews|Row|Walk|Green|Park|"
    "Plaza|Loop|Alley|Path|Pike|Point|Ridge|Run|View|Crossing|Expressway|Freeway|Junction|Landing|Manor|Meadows|"
    "Passage|Rise|Vale|Wharf|Yard|Broadway"
)
_UNIT = r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Fl|Floor|Room|Rm|Bldg|Building)\.?\s*#?\s*[0-9A-Z]{1,6}|\s+#\s?[0-9]{1,6})"
_US_TAIL = rf"(?:,?\s+(?:{_TWORD}[ ]+){{0,3}}{_TWORD},?[ ]+[A-Z]{{2}}[ ]+[0-9]{{5}}(?:-[0-9]{{4}})?)"
_UK_POSTCODE = r"(?:[A-Z]{1,2}[0-9][A-Z0-9]?\s?[0-9][A-Z]{2})"
_UK_TAIL = rf"(?:,?\s+(?:(?:{_TWORD}[ ]+){{0,3}}{_TWORD},?\s+)?{_UK_POSTCODE})"
_EN = re.compile(
    rf"(?<![\w\-/.,])(?:(?:Flat|Apartment|Unit|Studio)\s+[0-9]{{1,4}}[A-Z]?,?\s+)?"
    rf"[0-9]{{1,6}}[A-Z]?\s+(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?\s+)?"
    rf"(?:{_WORD}[ ]+){{1,4}}(?:{_EN_TYPES})\b\.?{_UNIT}?(?P<tail>{_US_TAIL}|{_UK_TAIL})?(?![\w])"
)
_DE_TYPES = "straße|strasse|str\\.|weg|gasse|platz|allee|ring|damm|ufer|chaussee|steig|pfad|markt"
_DE_TYPES_CAP = "Straße|Strasse|Str\\.|Weg|Gasse|Platz|Allee|Ring|Damm|Ufer|Chaussee|Steig|Pfad|Markt"
_DE_TOWN = rf"[0-9]{{5}}[ ]+{_TWORD}(?:[ \-](?:am|an der|im|in der|in|ob der|bei|vor der|a\.[ ]?d\.)[ ]+{_TWORD}|[ ]+{_TWORD}){{0,2}}"
_DE = re.compile(
    rf"(?<![\w\-])(?:[{_UP}][\w'’\-]*?(?:{_DE_TYPES})|{_WORD}(?:[ \-]{_WORD}){{0,2}}?[ \-](?:{_DE_TYPES_CAP}))"
    rf"\s+[0-9]{{1,4}}\s?[a-zA-Z]?(?:\s?[\-/]\s?[0-9]{{1,4}}[a-z]?)?(?P<tail>,?\s+{_DE_TOWN})?(?![\w])"
)
_FR_TYPES = ("rue|avenue|av\\.|boulevard|bd|place|chemin|allée|allee|impasse|quai|route|cours|square|passage|voie|"
             "rond-point|faubourg|sentier|villa|cité|hameau|lieu-dit|résidence")
_FR_ARTICLE = r"(?:de la|de l'|de l’|du|des|de|d'|d’|la|le|les|l'|l’)"
_FR_LINK = r"(?:de la|du|des|de|d'|la|le|les|sur|sous|en)"
_FR_NAME = rf"(?:{_FR_ARTICLE}[ ]*)?{_TWORD}(?:[ \-](?:{_FR_LINK}[ \-])?{_TWORD}){{0,3}}"
_FR_TOWN = rf"(?:[0-9]{{5}}|[0-9]{{2}} [0-9]{{3}})[ ]+{_TWORD}(?:[ \-](?:{_FR_LINK}[ \-])?{_TWORD}){{0,3}}(?:[ ]+(?i:cedex)(?: [0-9]{{1,2}})?)?"
_FR = re.compile(
    rf"(?<![\w\-/.])[0-9]{{1,4}}(?:\s?(?:bis|ter|quater|[A-D]))?,?\s+(?i:{_FR_TYPES})\s+{_FR_NAME}"
    rf"(?P<tail>,?\s+{_FR_TOWN})?(?![\w])"
)
_TYPE_WORDS = frozenset(w.lower().replace("\\.", "") for w in (_EN_TYPES + "|" + _FR_TYPES).split("|"))
_TOKEN = re.compile(r"[^\W\d_]+")


_DE_SUFFIXES = tuple(w.replace("\\.", "") for w in _DE_TYPES.split("|"))
_NUMBER_THEN_WORD = re.compile(r"[0-9][A-Za-z]?,?[ \t\n]+[^\W\d_]")  # "17 Jones", "12, rue"
_WORD_THEN_NUMBER = re.compile(r"[^\W\d_.][.]?[ \t]+[0-9]")  # "Hauptstraße 5", "Kuhlstr. 4"


def _may_hold_address(text: str) -> bool:
    """Cheap gates, all C-level: a house number next to a word, then a street type word or German suffix."""
    if _NUMBER_THEN_WORD.search(text) is None and _WORD_THEN_NUMBER.search(text) is None:
        return False
    words = _TOKEN.findall(text.lower())
    return not _TYPE_WORDS.isdisjoint(words) or any(word.endswith(_DE_SUFFIXES) for word in words)


class StreetAddressRecognizer(BaseRecognizer):
    """Detects postal addresses (street + number, postcode, town) for US, UK, DE and FR."""

    name = "street_address"
    type_name = "STREET_ADDRESS"
    version = "1.0.0"
    STREET_SCORE = 0.75
    FULL_SCORE = 0.9
    _PATTERNS = (("US/UK layout", _EN), ("German layout", _DE), ("French layout", _FR))

    def detect(self, text: str) -> list[Finding]:
        if not has_digit(text) or not _may_hold_address(text):
            return []
        view = line_view(text)
        findings: list[Finding] = []
        for name, pattern in self._PATTERNS:
            for match in pattern.finditer(view):
                start, end = match.start(), match.end()
                while end > start and view[end - 1] in " ,.":
                    end -= 1
                full = match.group("tail") is not None
                score = self.FULL_SCORE if full else self.STREET_SCORE
                findings.append(self._finding(
                    start, end, score, pattern_name=name + (" with postcode/town" if full else ", street part"),
                    pattern=pattern.pattern[:200], original_score=self.STREET_SCORE,
                    context=("postcode/town",) if full else ()))
        return findings

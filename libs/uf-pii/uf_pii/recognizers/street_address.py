"""STREET_ADDRESS: postal addresses in US, UK, German, French and Canadian layouts.

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
  before the commune);
* Canadian: ``220 Yonge Street, Toronto, ON M5B 2H1``, ``1455 rue Peel, Montréal (Québec) H3G 1P1``
  (the US or French street part, then town, province and the A1A 1A1 postcode).

Street names are not always "Name + type word": lower-case particles ("Straße an der Alster 12",
"Jan van Goyenkade 10", "12 de la Vina St"), the type word first ("Platz der Republik 1", "1600
Avenue of the Americas"), names with no type word at all ("Jungfernstieg 7") and Dutch/Belgian
postcodes.  With a postcode and town after the number, any capitalised street name with particles
is accepted (the postcode is the evidence); without them a street type is required.  Lower-case
addresses typed in a chat ("414 sycamore rd") are read with the unambiguous US street types only.

The street part alone is reported (an address without its town still locates a person); with the
postcode/town part the span covers it and the score is higher.  Lines of a multi-line address are
followed from part to part (never inside a town name), so a signature block is one finding.
"""

from __future__ import annotations

import operator
import re

from uf_pii.finding import Finding
from uf_pii.recognizer import BaseRecognizer
from uf_pii.textview import has_digit, line_view

_UP = "A-ZÀ-ÖØ-Þ"
_WORD = rf"[{_UP}][\w'’\-]*\.?"
_TWORD = rf"[{_UP}][\w'’\-]*"  # a word of a town name: no trailing dot (". Thanks" ends the address)
# Lower-case particles that sit between the capitalised words of a street or town name in the
# languages we read: "Straße an der Alster", "Jan van Goyenkade", "Avenue of the Americas",
# "Camino del Mar", "Stratford upon Avon Road".  Never a whole name on their own.
_PARTICLE = (
    r"(?:an der|an den|an dem|auf der|auf dem|auf den|in der|in den|in dem|unter den|unter der|vor dem|vor der|"
    r"hinter dem|hinter der|bei der|bei den|über den|über der|von der|von den|von dem|ob der|van der|van den|"
    r"van de|de la|de los|de las|of the|am|an|auf|aus|bei|beim|der|den|dem|des|die|das|im|in|zum|zur|vom|von|"
    r"unter|vor|hinter|über|ob|zu|van|de|ter|ten|te|het|op|aan|bij|uit|voor|la|le|les|du|di|da|del|della|y|of|"
    r"the|on|upon|under|sur|sous|en|lès)"
)
# Dutch streets named after a person are often written with the particle in lower case first
# ("van Eeghenstraat 12").
_NAME_PARTICLE = r"(?:van der|van den|van de|van|von|ter|ten|'t)"
_EN_TYPES = (
    "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Way|Terrace|Ter|Circle|Cir|"
    "Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Close|Crescent|Gardens|Grove|Hill|Mews|Row|Walk|Green|Park|"
    "Plaza|Loop|Alley|Path|Pike|Point|Ridge|Run|View|Crossing|Expressway|Freeway|Junction|Landing|Manor|Meadows|"
    "Passage|Rise|Vale|Wharf|Yard|Broadway"
)
# Street types written before the name, then a particle: "Avenue of the Americas", "Camino del Mar".
_EN_TYPE_FIRST = r"(?:Avenue|Street|Boulevard|Place|Square|Camino|Calle|Avenida|Paseo|Via|Rue|Route)"
_WRAP = r"(?:[ ]+|[ ]*\n[ ]*)"  # a space, or the line break of a hard wrap (a reply's "> " reads as spaces)
_EN_NAME = rf"(?:(?:{_PARTICLE}[ ]+)?{_WORD}{_WRAP}){{1,4}}"  # "de la Vina ", "Martin Luther King Jr. "
_UNIT = r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Fl|Floor|Room|Rm|Bldg|Building)\.?\s*#?\s*[0-9A-Z]{1,6}|\s+#\s?[0-9]{1,6})"
_US_TAIL = rf"(?:,?\s+(?:{_TWORD}[ ]+){{0,3}}{_TWORD},?[ ]+[A-Z]{{2}}[ ]+[0-9]{{5}}(?:-[0-9]{{4}})?)"
_UK_POSTCODE = r"(?:[A-Z]{1,2}[0-9][A-Z0-9]?\s?[0-9][A-Z]{2})"
_UK_TAIL = rf"(?:,?\s+(?:(?:{_TWORD}[ ]+){{0,3}}{_TWORD},?\s+)?{_UK_POSTCODE})"
# Canada: "220 Yonge Street, Toronto, ON M5B 2H1", "1455 rue Peel, Montréal (Québec) H3G 1P1": town,
# province (two-letter code, or its name in brackets as Quebec writes it) and the A1A 1A1 postcode,
# whose letters are never D, F, I, O, Q or U (W and Z never lead).
_CA_PROVINCE = (r"(?:AB|BC|MB|NB|NL|NS|NT|NU|ON|PE|QC|SK|YT|\((?:Québec|Quebec|Ontario|Alberta|Manitoba|Saskatchewan|"
                r"Nouveau-Brunswick|New Brunswick|Nova Scotia|Nouvelle-Écosse|Colombie-Britannique|British Columbia)\))")
_CA_POSTCODE = r"[ABCEGHJ-NPRSTVXY][0-9][ABCEGHJ-NPRSTV-Z](?:[ ]?|[ ]*\n[ ]*)[0-9][ABCEGHJ-NPRSTV-Z][0-9]"
_CA_TOWN = rf"(?:{_TWORD}[ \-]+){{0,3}}{_TWORD},?(?:[ ]+|[ ]*\n[ ]*){_CA_PROVINCE}(?:[ ]+|[ ]*\n[ ]*){_CA_POSTCODE}"
_CA_TAIL = rf"(?:,?\s+{_CA_TOWN})"
_DIRECTION = r"(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)"  # after the type: "Ave NW", "Bloor Street West"
_EN = re.compile(
    # The house number is not the last group of a longer number ("020 7496 0353\nAndrea Hill" is a
    # phone number, then a name) and is followed by its street on the same line.
    rf"(?<![\w\-/.,])(?<![0-9][ ])(?:(?:Flat|Apartment|Unit|Studio)\s+[0-9]{{1,4}}[A-Z]?,?\s+)?"
    rf"[0-9]{{1,6}}[A-Z]?(?:[ ]+|[ ]*\n[ ]*)(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?\s+)?"
    rf"(?:{_EN_NAME}(?:{_EN_TYPES})\b\.?(?:[ ]+{_DIRECTION}\b\.?)?|{_EN_TYPE_FIRST}[ ]+{_PARTICLE}[ ]+{_WORD}(?:[ ]+{_WORD}){{0,2}})"
    rf"{_UNIT}?(?P<tail>{_US_TAIL}|{_CA_TAIL}|{_UK_TAIL})?(?![\w])"
)
# Continental layout (German, Austrian, Swiss, Dutch, Belgian): name first, house number after it.
# Only suffixes that end street names and rarely a town's ("-berg", "-hof", "-haven" end towns too:
# such streets are still found when the postcode and town follow, see _CONT_WITH_TOWN).
_DE_TYPES = ("straße|strasse|str\\.|weg|gasse|platz|allee|ring|damm|ufer|chaussee|steig|stieg|pfad|markt|"
             "kai|wall|graben|promenade|zeile|brücke")
_NL_TYPES = "straat|gracht|laan|plein|kade|singel|dijk|steeg|dreef|burgwal|kanaal|plantsoen"
_CONT_TYPES = rf"(?:{_DE_TYPES}|{_NL_TYPES})"
_CONT_TYPES_CAP = "(?:" + "|".join(w[0].upper() + w[1:] for w in _CONT_TYPES[3:-1].split("|")) + ")"
_SUFFIXED = rf"[{_UP}][\w'’\-]*?{_CONT_TYPES}"  # "Hauptstraße", "Keizersgracht", "Karl-Marx-Str."
_SUFFIXED_LOW = rf"[a-zà-ÿß][\w\-]*?{_CONT_TYPES}"  # "vanring": a lower-case compound after a particle-led name
_CONT_NUMBER = r"[0-9]{1,4}\s?[a-zA-Z]?(?:\s?[\-/–]\s?(?:[0-9]{1,4}[a-z]?|[A-Za-z]{1,3}(?!\w)))?"  # 5a, 12-14, 7-H
_CONT_SEP = r"(?:,[ ]*|[ ]*\n[ ]*)"  # a comma or a line break between street and town, never only a space
_DE_TOWN = rf"[0-9]{{5}}{_WRAP}{_TWORD}(?:[ \-](?:am|an der|im|in der|in|ob der|bei|vor der|a\.[ ]?d\.)[ ]+{_TWORD}|[ ]+{_TWORD}){{0,2}}"
_NL_TOWN = rf"[1-9][0-9]{{3}}[ ]?[A-Z]{{2}}{_WRAP}{_TWORD}(?:[ \-]{_TWORD}){{0,2}}"  # "1015 CJ Amsterdam", "2585 DA Den Haag"
_BE_TOWN = rf"(?:[A-Z]-)?[1-9][0-9]{{3}}[ ]+{_TWORD}(?:[ \-](?:(?:am|an der|im|sur|lez|lès)[ \-])?{_TWORD}){{0,2}}"
_CONT_TOWN = rf"(?:{_DE_TOWN}|{_NL_TOWN}|{_BE_TOWN})"
_FR_TYPES = ("rue|avenue|av\\.|boulevard|bd|place|chemin|allée|allee|impasse|quai|route|cours|square|passage|voie|"
             "rond-point|faubourg|sentier|villa|cité|hameau|lieu-dit|résidence")
_FR_ARTICLE = r"(?:de la|de l'|de l’|du|des|de|d'|d’|la|le|les|l'|l’|aux|au)"
_FR_LINK = r"(?:(?:de la|du|des|de|la|le|les|sur|sous|en|aux|au|lès)[ \-]|(?:de l|d|l)['’][ ]?)"
# A French street name never runs into a Canadian town line ("Rue Sainte-Catherine O\nMontréal, QC H3G 1P1").
_FR_NAME = rf"(?:{_FR_ARTICLE}[ \n]*)?{_TWORD}(?:(?:[ \-\n]{_FR_LINK}?|{_FR_LINK})(?!{_CA_TOWN}){_TWORD}){{0,3}}"
_FR_TOWN = rf"(?:[0-9]{{5}}|[0-9]{{2}} [0-9]{{3}})[ ]+{_TWORD}(?:[ \-]{_FR_LINK}?{_TWORD}){{0,3}}(?:[ ]+(?i:cedex)(?: [0-9]{{1,2}})?)?"
# Any capitalised words and particles may name a street when the postcode and town follow; the
# street type may also come first ("Straße an der Alster", "Platz der Republik", "Rue de la Loi").
_BE_TYPE_FIRST = rf"(?:(?:rue|avenue|boulevard|place|chaussée|chemin|quai|drève)[ ]+(?:{_FR_LINK})?)"  # Brussels
_CONT_NAME = rf"{_BE_TYPE_FIRST}?{_WORD}(?:[ \-](?:{_PARTICLE}[ \-])*(?:{_SUFFIXED_LOW}|{_WORD})){{0,4}}?"
_DE = re.compile(
    rf"(?<![\w\-])(?:"
    rf"(?:{_NAME_PARTICLE}[ ]+)?(?:{_WORD}[ \-](?:{_PARTICLE}[ \-])*)?{_SUFFIXED}"  # "Hauptstraße", "Jan van Goyenkade"
    rf"|{_WORD}(?:[ \-]{_WORD}){{0,2}}?[ \-]{_CONT_TYPES_CAP}\.?"  # "Karl-Marx-Straße", "Alter Markt"
    rf"|{_CONT_TYPES_CAP}[ ]+{_PARTICLE}[ ]+{_WORD}(?:[ \-]{_WORD}){{0,2}}?"  # "Platz der Republik"
    rf")(?:[ ]*|[ ]*\n[ ]*){_CONT_NUMBER}(?P<tail>,?\s+{_CONT_TOWN})?(?![\w])"
)
_CONT_WITH_TOWN = re.compile(
    rf"(?<![\w\-]){_CONT_NAME}(?:[ ]+|[ ]*\n[ ]*){_CONT_NUMBER}(?P<tail>{_CONT_SEP}{_CONT_TOWN})(?![\w])"
)
_FR = re.compile(
    rf"(?<![\w\-/.])[0-9]{{1,4}}(?:\s?(?:bis|ter|quater|[A-D]))?,?\s+(?i:{_FR_TYPES})\s+{_FR_NAME}"
    rf"(?P<tail>,?\s+{_FR_TOWN}|{_CA_TAIL})?(?![\w])"
)
# Typed in a chat, all lower case: "ship it to 414 sycamore rd".  Only street types that are not
# also everyday words ("drive", "walk", "way", "park" are, "5 min drive"), and never a quantity's unit.
_LOWER_TYPES = "street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|terrace|parkway|pkwy|highway|hwy"
_LOWER_UNITS = (r"(?:min|mins|minute|minutes|hr|hrs|hour|hours|day|days|mile|miles|km|block|blocks|more|of|the|and|"
                r"or|hard|usb|flash|external|disk|disc|network|shared|test|cd|dvd|ssd|thumb|one|two|three)")
_LOWER_GAP = r"(?:[ ]+|[ ]*\n[ ]*)"  # a hard wrap may fall anywhere in the line
_EN_LOWER = re.compile(
    rf"(?<![\w\-/.,])(?<![0-9][ ])[0-9]{{1,5}}{_LOWER_GAP}(?:(?!{_LOWER_UNITS}\b)[a-z][a-z'\-]+{_LOWER_GAP}){{1,3}}"
    rf"(?:{_LOWER_TYPES})\b\.?"
    rf"(?:,?[ ]+(?:apt|unit|suite|ste)\.?[ ]*#?[0-9a-z]{{1,5}})?(?![\w])"
)
_TYPE_WORDS = frozenset(w.lower().replace("\\.", "") for w in (_EN_TYPES + "|" + _FR_TYPES + "|camino|calle|avenida|paseo|via").split("|"))
_DE_SUFFIXES = tuple(w.replace("\\.", "") for w in (_DE_TYPES + "|" + _NL_TYPES).split("|"))
_TOKEN = re.compile(r"[^\W\d_]+")
# "Does any word end in a continental street suffix" with the loop in C (``map`` of a C method
# caller): the gate runs on every log line, and a generator expression here was a third of the
# structured engine's time on a typical log line.
_ENDS_WITH_SUFFIX = operator.methodcaller("endswith", _DE_SUFFIXES)
_NUMBER_THEN_WORD = re.compile(r"[0-9][A-Za-z]?,?[ \t\n]+[^\W\d_]")  # "17 Jones", "12, rue"
_WORD_THEN_NUMBER = re.compile(r"[^\W\d_.](?:[.][ \t]*|[ \t]+)[0-9]")  # "Hauptstraße 5", "Kuhlstr.4"
# A postcode before a town: five digits (DE/FR/US), four and two letters (NL), four (BE/AT/CH).
# (The "not after a digit" check follows the first digit, so the search starts with a character
# class and skips ahead in C to the next digit: the gate runs on every log line.)
_POSTCODE_TOWN = re.compile(
    rf"(?:[0-9](?<![0-9][0-9])[0-9]{{4}}|[1-9](?<![0-9][1-9])[0-9]{{3}}(?:[ ]?[A-Z]{{2}})?)[ ]*\n?[ ]*[{_UP}]")


_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def _may_hold_address(text: str) -> tuple[bool, bool]:
    """Cheap gates, all C-level: ``(street words present, postcode + town present)``."""
    if _NUMBER_THEN_WORD.search(text) is None and _WORD_THEN_NUMBER.search(text) is None:
        return False, False
    words = _TOKEN.findall(text.lower())
    street = not _TYPE_WORDS.isdisjoint(words) or any(map(_ENDS_WITH_SUFFIX, words))
    return street, _POSTCODE_TOWN.search(text) is not None


class StreetAddressRecognizer(BaseRecognizer):
    """Detects postal addresses (street + number, postcode, town) for US, UK, DE and FR."""

    name = "street_address"
    type_name = "STREET_ADDRESS"
    version = "1.2.0"
    STREET_SCORE = 0.75
    FULL_SCORE = 0.9
    _PATTERNS = (("US/UK layout", _EN), ("German/Dutch layout", _DE), ("French layout", _FR),
                 ("US layout, lower case", _EN_LOWER))
    _TOWN_PATTERNS = (("continental layout, any street name before postcode and town", _CONT_WITH_TOWN),)

    def detect(self, text: str) -> list[Finding]:
        if not has_digit(text):
            return []
        street, town = _may_hold_address(text)
        if not street and not town:
            return []
        view = line_view(text.replace("\t", "|"))  # a tab ends a cell (no pattern crosses "|"): TSV columns are never one address
        if "<" in view and _HTML_BREAK.search(view):
            # An HTML form writes the lines of an address with <br>: read as line breaks (same length).
            view = _HTML_BREAK.sub(lambda m: "\n" + " " * (m.end() - m.start() - 1), view)
        findings: list[Finding] = []
        patterns = (self._PATTERNS if street else ()) + (self._TOWN_PATTERNS if town else ())
        for name, pattern in patterns:
            for match in pattern.finditer(view):
                start, end = match.start(), match.end()
                while end > start and view[end - 1] in " ,.":
                    end -= 1
                full = match.groupdict().get("tail") is not None
                score = self.FULL_SCORE if full else self.STREET_SCORE
                findings.append(self._finding(
                    start, end, score, pattern_name=name + (" with postcode/town" if full else ", street part"),
                    pattern=pattern.pattern[:200], original_score=self.STREET_SCORE,
                    context=("postcode/town",) if full else ()))
        return findings

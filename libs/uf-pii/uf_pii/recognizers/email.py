"""EMAIL_ADDRESS: plain, URL-encoded and obfuscated e-mail addresses.

Why two patterns: the plain RFC-5322-ish form is matched with a strict
pattern plus a real-TLD check (so ``logo@2x.png`` is not an address), while
people who hide addresses from scrapers write "jane at example dot com",
"jane [at] example [dot] com", "jane(at)example(dot)com" or, inside URLs,
"jane%40example.com".  Those are still personal data and must be redacted.

Spaces around the "@" ("jane @ example.com", also inside angle brackets after a display
name: "Jane Roe <jane @ example.com>") are the commonest hand-written obfuscation; with a real
TLD after a literal dot such a span is an address.

Deliberate limit: a *bare* " at " combined only with literal dots
("look at github.com") is ordinary prose far more often than an address, so
the bare-word form requires at least one spelled-out "dot" as well.
"""

from __future__ import annotations

import re

from uf_pii.finding import Finding
from uf_pii.recognizer import BaseRecognizer
from uf_pii.textview import structured_view
from uf_pii.tlds import is_tld

_L = "A-Za-z0-9\u00c0-\u024f"  # ASCII + Latin-1/Latin Extended letters (accents)
_ATOM = rf"[{_L}_+\-](?:[{_L}_+'\-]*[{_L}_+\-])?"
_LABEL = rf"[{_L}](?:[{_L}\-]{{0,61}}[{_L}])?"

_PLAIN = re.compile(
    rf"(?<![{_L}_.+\-])"
    rf"({_ATOM}(?:\.{{1,2}}{_ATOM})*)@((?:{_LABEL}\.)+([A-Za-z]{{2,24}}|xn--[a-z0-9\-]{{2,59}}))"
    rf"(?![{_L}_\-@])",
    re.IGNORECASE,
)

_AT_BRACKET = r"\s*[\[\(\{<]\s*at\s*[\]\)\}>]\s*"
_DOT_WORD = r"(?:dot|punkt|point|punto)"  # the spelled dot in English, German, French, Spanish
_DOT_BRACKET = rf"\s*[\[\(\{{<]\s*{_DOT_WORD}\s*[\]\)\}}>]\s*"
_AT = rf"(?P<at>{_AT_BRACKET}|%40|\s+at\s+|\s+@\s*|\s*@\s+)"
_DOT = rf"(?:{_DOT_BRACKET}|\s+{_DOT_WORD}\s+|\.)"
_OBFUSCATED = re.compile(
    rf"(?<![{_L}_.+\-])"
    rf"(?P<local>{_ATOM}(?:{_DOT}{_ATOM})*)"
    rf"{_AT}"
    rf"(?P<domain>{_LABEL}(?:{_DOT}{_LABEL})*){_DOT}(?P<tld>[A-Za-z]{{2,24}})"
    rf"(?![{_L}_\-])",
    re.IGNORECASE,
)
_SPELLED_DOT = re.compile(rf"{_DOT_BRACKET}|\s+{_DOT_WORD}\s+", re.IGNORECASE)
_TRIGGER = re.compile(r"[@\uff20\ufe6b]|%40|\bat\b", re.IGNORECASE)  # fullwidth/small @ read as "@" (textview)
# The obfuscated pattern is the expensive one; plain "jane@example.com" lines (most log lines with
# an address) never need it.
_OBFUSCATION = re.compile(r"\s@|@\s|%40|[\[({<]\s*at\s*[\])}>]|\sat\s", re.IGNORECASE)


class EmailRecognizer(BaseRecognizer):
    """Detects e-mail addresses including common obfuscations."""

    name = "email"
    type_name = "EMAIL_ADDRESS"

    PLAIN_SCORE = 1.0
    BRACKET_SCORE = 0.9
    SPACED_SCORE = 0.85
    BARE_WORD_SCORE = 0.75
    version = "2.1.0"

    def detect(self, text: str) -> list[Finding]:
        if not _TRIGGER.search(text):
            return []
        view = structured_view(text)
        findings: list[Finding] = []
        for match in _PLAIN.finditer(view):
            if is_tld(match.group(3)):
                findings.append(self._finding(match.start(), match.end(), self.PLAIN_SCORE, pattern_name="plain",
                                              pattern=_PLAIN.pattern, validation="known TLD"))
        for match in (_OBFUSCATED.finditer(view) if _OBFUSCATION.search(view) else ()):
            at = match.group("at")
            at_token = at.strip().lower()
            dotted = view[match.end("at") : match.end()]
            spelled = _SPELLED_DOT.search(dotted) is not None
            if not is_tld(match.group("tld")):
                continue
            if at_token == "@" and not spelled:
                score, form = self.SPACED_SCORE, "spaces around @"
            elif at_token == "at":
                # bare-word " at ": require a spelled-out dot (see module docstring)
                if not spelled:
                    continue
                score, form = self.BARE_WORD_SCORE, "spelled-out at/dot"
            else:
                score, form = self.BRACKET_SCORE, "obfuscated at/dot"
            findings.append(self._finding(match.start(), match.end(), score, pattern_name=form,
                                          pattern=_OBFUSCATED.pattern, validation="known TLD"))
        return findings

"""Structural context: the column header or key that names a value.

Why: in exports and payloads the words that say what a value is are not next to it.  In
``name,ssn,phone\\nJane Roe,123456789,...`` the header "ssn" is a line and two cells away from
the number it names; in ``{"tax_id": "123456789"}`` the key is right before the value but in
``key=value`` logs, JSON and CSV/TSV alike, the *structure* is what links them.  This module
finds those links once per text and lets every recognizer ask "which field is this span in?".

Recognised structures (no full parsing: the text may be a fragment, a log line, or a table
pasted into an e-mail):

* JSON-like ``"key": "value"`` and ``"key": 123`` pairs, anywhere in the text;
* YAML-style ``key: value`` lines with a lower-case identifier key;
* XML/HTML elements and attributes (``<ssn>123456789</ssn>``, ``<record id="0725563">``);
* ``key=value`` pairs (logs, query strings);
* delimited tables (``,`` ``;`` ``|`` or tab): a header-like line followed by lines with the same
  number of cells; every cell of those lines is labelled with its column's header.  Quoted
  cells may contain the delimiter; markdown tables (outer pipes, ``|---|`` rule) are read too;
* fixed-width reports: a header of cells separated by two or more spaces, rows cut at its columns.

Labels are normalised to lower-case words (``taxpayerId`` -> ``taxpayer id``,
``social_security_number`` -> ``social security number``) so one word list serves all forms.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

_JSON_PAIR = re.compile(r'"([A-Za-z_][A-Za-z0-9_ .\-]{0,48})"\s*:\s*(?:"((?:[^"\\\n]|\\.)*)"|(-?[0-9][0-9.eE+\-]*))')
_KV_PAIR = re.compile(r"(?<![\w.\-])([A-Za-z_][A-Za-z0-9_\-]{1,40})=(\"?)([^\s,;&\"]+)\2")
# XML/HTML: <ssn>123456789</ssn> and <record id="0725563"> (the tag or attribute names the value).
_XML_ELEMENT = re.compile(r"<([A-Za-z_][\w\-.]{0,40})(?:\s[^<>]{0,200})?>([^<>\n]{1,120})</\1\s*>")
# YAML / INI / mail-header style "key: value" lines with an identifier-like lower-case key
# ("  - name: Jane Roe", "ssn: 123456789", "phone: '+33 ...'"); a capitalised word before a colon
# is a speaker in a chat ("Priya: 123456789" answers a question) and labels nothing.
_YAML_PAIR = re.compile(r"^[ \t]*(?:- )?([a-z_][a-z0-9_\-]{0,40}):[ \t]+['\"]?([^\s'\"#][^\n#'\"]{0,119}?)['\"]?[ \t]*$",
                        re.MULTILINE)
_HTML_TAGS = frozenset({
    "td", "th", "tr", "dt", "dd", "li", "p", "div", "span", "b", "i", "u", "em", "strong", "a", "small", "code", "pre",
    "label", "h1", "h2", "h3", "h4", "h5", "h6", "font", "body", "html", "title", "button", "option",
})
# An HTML row whose first cell names the second: <tr><td>SSN</td><td>123456789</td>, <dt>..</dt><dd>..</dd>.
_HTML_LABEL_CELL = re.compile(r"<(td|th|dt)\b[^<>]{0,100}>([^<>\n]{1,40})</\1\s*>\s*<(td|dd)\b[^<>]{0,100}>([^<>\n]{1,120})</\3\s*>",
                              re.IGNORECASE)
_XML_ATTRIBUTE = re.compile(r"(?<=\s)([A-Za-z_][\w\-.:]{0,40})=\"([^\"<>\n]{1,120})\"")
_HEADER_CELL = re.compile(r"^[A-Za-z][A-Za-z0-9_ \-./#()]{0,40}$")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[\s_\-./#()]+")
_DELIMITERS = ("\t", ",", ";", "|")


@dataclass(frozen=True, slots=True)
class Field:
    """A value span ``[start, end)`` and the normalised label that names it."""

    start: int
    end: int
    label: str


def normalize_label(raw: str) -> str:
    """``"taxpayerId"`` -> ``"taxpayer id"``; ``"SOCIAL_SECURITY_NUMBER"`` -> ``"social security number"``."""
    return _SEPARATORS.sub(" ", _CAMEL.sub(" ", raw.strip().strip('"'))).strip().lower()


def _cells(line: str, delimiter: str) -> list[tuple[int, int]]:
    """Cell spans of one line (quote-aware; surrounding quotes are not part of the span)."""
    spans: list[tuple[int, int]] = []
    start = 0
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == delimiter and not quoted:
            spans.append((start, i))
            start = i + 1
    spans.append((start, len(line)))
    out = []
    for s, e in spans:
        while s < e and line[s] in ' "':
            s += 1
        while e > s and line[e - 1] in ' "\r':
            e -= 1
        out.append((s, e))
    return out


def _row_cells(line: str, delimiter: str) -> list[tuple[int, int]]:
    """Cells of a table row; a markdown row's outer pipes (``| a | b |``) open and close it, no cell."""
    cells = _cells(line, delimiter)
    if delimiter == "|" and len(cells) > 2 and line.strip().startswith("|") and line.strip().endswith("|"):
        cells = cells[1:-1]
    return cells


_MD_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)+\|?\s*$")  # |---|:---:|


def _header(line: str, delimiter: str) -> list[str] | None:
    if delimiter not in line:
        return None
    cells = [line[s:e] for s, e in _row_cells(line, delimiter)]
    if len(cells) < 2 or not all(_HEADER_CELL.match(c) for c in cells):
        return None
    return [normalize_label(c) for c in cells]


def _table_fields(text: str) -> list[Field]:
    lines: list[tuple[int, str]] = []
    pos = 0
    for line in text.split("\n"):
        lines.append((pos, line))
        pos += len(line) + 1
    fields: list[Field] = []
    i = 0
    while i < len(lines) - 1:
        offset, line = lines[i]
        found = False
        for delimiter in _DELIMITERS:
            header = _header(line, delimiter)
            if header is None:
                continue
            j = i + 1
            if delimiter == "|" and j < len(lines) and _MD_RULE.match(lines[j][1]):
                j += 1  # the markdown rule under the header
            first_row = j
            while j < len(lines):
                row_offset, row = lines[j]
                cells = _row_cells(row, delimiter) if delimiter in row else []
                if len(cells) != len(header):
                    break
                for (s, e), label in zip(cells, header, strict=True):
                    if e > s:
                        fields.append(Field(row_offset + s, row_offset + e, label))
                j += 1
            if j > first_row:
                found = True
                i = j
                break
        if not found:
            i += 1
    return fields


_WIDE_GAP = re.compile(r"\S+(?: \S+)*")  # a fixed-width cell: words separated by single spaces
_RULE_LINE = re.compile(r"^[\s\-=_+|]+$")


def _fixed_width_fields(text: str) -> list[Field]:
    """Cells of whitespace-aligned reports (``ACCOUNT   HOLDER        TAX ID      PHONE``).

    A header is a line of at least two header-like cells separated by two or more spaces; the rows
    under it (after an optional ``-----`` rule) are cut at the same columns: a cell belongs to the
    column whose header starts at or left of it.  Rows must line up: most of their cells start
    where a header cell starts (left-aligned columns).
    """
    fields: list[Field] = []
    lines: list[tuple[int, str]] = []
    pos = 0
    for line in text.split("\n"):
        lines.append((pos, line))
        pos += len(line) + 1
    i = 0
    while i < len(lines) - 1:
        _, header_line = lines[i]
        header = [(m.start(), m.group(0)) for m in _WIDE_GAP.finditer(header_line)]
        if (len(header) < 2 or "  " not in header_line or any(ch.isdigit() for ch in header_line)
                or not all(_HEADER_CELL.match(cell) for _, cell in header)):
            i += 1
            continue
        starts = [start for start, _ in header]
        labels = [normalize_label(cell) for _, cell in header]
        j = i + 1
        if j < len(lines) and _RULE_LINE.match(lines[j][1]) and lines[j][1].strip():
            j += 1
        first_row = j
        while j < len(lines):
            row_offset, row = lines[j]
            cells = [(m.start(), m.end()) for m in _WIDE_GAP.finditer(row)]
            aligned = sum(1 for start, _ in cells if start in starts)
            if len(cells) < 2 or aligned * 2 < len(cells):
                break
            for start, end in cells:
                column = bisect_right(starts, start) - 1
                if column >= 0:
                    fields.append(Field(row_offset + start, row_offset + end, labels[column]))
            j += 1
        i = j if j > first_row else i + 1
    return fields


@lru_cache(maxsize=32)
def fields(text: str) -> tuple[Field, ...]:
    """All labelled value spans of ``text``, sorted by start (cached: recognizers share it)."""
    found: list[Field] = []
    if '"' in text and ":" in text:
        for m in _JSON_PAIR.finditer(text):
            group = 2 if m.group(2) is not None else 3
            if m.end(group) > m.start(group):
                found.append(Field(m.start(group), m.end(group), normalize_label(m.group(1))))
    if "=" in text:
        for m in _KV_PAIR.finditer(text):
            found.append(Field(m.start(3), m.end(3), normalize_label(m.group(1))))
    if ": " in text and "\n" in text:
        for m in _YAML_PAIR.finditer(text):
            found.append(Field(m.start(2), m.end(2), normalize_label(m.group(1))))
    if "</" in text or '="' in text:
        for m in _XML_ELEMENT.finditer(text):
            if m.group(1).lower() not in _HTML_TAGS:  # <td>, <span>... say nothing about their content
                found.append(Field(m.start(2), m.end(2), normalize_label(m.group(1))))
        for m in _HTML_LABEL_CELL.finditer(text):
            found.append(Field(m.start(4), m.end(4), normalize_label(m.group(2))))
        for m in _XML_ATTRIBUTE.finditer(text):
            found.append(Field(m.start(2), m.end(2), normalize_label(m.group(1))))
    if "\n" in text and any(d in text for d in _DELIMITERS):
        found.extend(_table_fields(text))
    if "\n" in text and "   " in text:
        found.extend(_fixed_width_fields(text))
    found.sort(key=lambda f: (f.start, f.end))
    return tuple(found)


@lru_cache(maxsize=32)
def _starts(text: str) -> tuple[int, ...]:
    return tuple(f.start for f in fields(text))


def field_at(text: str, start: int, end: int) -> Field | None:
    """The field that contains ``[start, end)``, if any."""
    found = fields(text)
    if not found:
        return None
    i = bisect_right(_starts(text), start) - 1
    for k in range(i, max(-1, i - 4), -1):  # fields barely nest (a key=value inside a JSON string)
        field = found[k]
        if field.start <= start and end <= field.end:
            return field
    return None

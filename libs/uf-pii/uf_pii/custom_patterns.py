"""Enterprise-specific PII patterns loaded from YAML.

Why validate everything at load: a compliance team edits this file, and a
typo must stop the service at start-up with a message naming the pattern,
not surface as an exception (or a silent miss) while scanning production
traffic.  Format::

    allow_list: ["support@universal.example"]   # optional, global: never report these values
    patterns:
      - name: employee_id            # required, unique
        type: EMPLOYEE_ID            # required, UPPER_SNAKE finding type
        regex: '\\bEMP-\\d{6}\\b'      # required unless deny_list is given
        score: 0.6                   # optional, (0, 1], default 0.6
        ignore_case: true            # optional, default false
        validator: luhn              # optional: luhn, mod97, iban, us_ssn, ca_sin, verhoeff
        context:                     # optional
          raise: [employee, staff]   # nearby words add 0.35
          lower: [example, test]     # nearby words subtract 0.35
          window: 40                 # characters either side, default 40
        allow_list: ["EMP-000000"]   # optional: matches never reported
        deny_list: ["Project Falcon"]  # optional: literals always reported (score 1.0)
        classification: RESTRICTED   # optional, default CONFIDENTIAL

If the regex has a named group ``pii`` only that group is reported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from uf_pii.checksums import Validator, get_validator
from uf_pii.classification import DataClass
from uf_pii.context import adjust_score
from uf_pii.finding import Finding
from uf_pii.recognizer import BaseRecognizer

_TYPE_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_PATTERN_KEYS = frozenset(
    {"name", "type", "regex", "score", "ignore_case", "validator", "context", "allow_list", "deny_list", "classification"}
)
_CONTEXT_KEYS = frozenset({"raise", "lower", "window"})
_TOP_KEYS = frozenset({"patterns", "allow_list", "version"})


class CustomPatternError(ValueError):
    """A custom pattern file or entry is invalid; the message names the pattern."""


@dataclass(frozen=True)
class PatternSpec:
    """A validated custom pattern."""

    name: str
    type: str
    regex: re.Pattern[str] | None
    score: float = 0.6
    validator_name: str | None = None
    raise_words: tuple[str, ...] = ()
    lower_words: tuple[str, ...] = ()
    window: int = 40
    allow_list: frozenset[str] = frozenset()
    deny_list: tuple[str, ...] = ()
    classification: DataClass = DataClass.CONFIDENTIAL


@dataclass
class CustomConfig:
    """Everything a custom pattern file contributes to a registry.

    Prefer ``registry.load_custom_patterns(path)``, which also applies
    ``levels`` and ``allow_list``; ``recognizers()`` alone only adds detectors.
    """

    patterns: list[PatternRecognizer] = field(default_factory=list)
    levels: dict[str, DataClass] = field(default_factory=dict)
    allow_list: frozenset[str] = frozenset()

    def recognizers(self) -> list[PatternRecognizer]:
        """The validated pattern recognizers, ready to register."""
        return list(self.patterns)


def normalize_value(value: str) -> str:
    """Allow/deny comparisons ignore case and surrounding whitespace."""
    return value.strip().casefold()


class PatternRecognizer(BaseRecognizer):
    """Regex + optional checksum + context + allow/deny lists, from a :class:`PatternSpec`."""

    def __init__(self, spec: PatternSpec) -> None:
        self.spec = spec
        self.name = f"custom:{spec.name}"
        self.type_name = spec.type
        self._validator: Validator | None = get_validator(spec.validator_name) if spec.validator_name else None
        self._deny = (
            re.compile(
                r"(?<!\w)(?:" + "|".join(re.escape(v) for v in sorted(spec.deny_list, key=len, reverse=True)) + r")(?!\w)",
                re.IGNORECASE,
            )
            if spec.deny_list
            else None
        )

    def detect(self, text: str) -> list[Finding]:
        spec = self.spec
        findings: list[Finding] = []
        if spec.regex is not None:
            has_pii_group = "pii" in spec.regex.groupindex
            for match in spec.regex.finditer(text):
                start, end = match.span("pii") if has_pii_group else match.span()
                if start < 0 or end <= start:
                    continue
                value = text[start:end]
                if normalize_value(value) in spec.allow_list:
                    continue
                if self._validator is not None and not self._validator(value):
                    continue
                score = adjust_score(
                    spec.score, text, start, end, spec.raise_words, spec.lower_words, window=spec.window
                )
                if score > 0.0:
                    findings.append(self._finding(start, end, score))
        if self._deny is not None:
            for match in self._deny.finditer(text):
                findings.append(self._finding(match.start(), match.end(), 1.0))
        return findings


def _fail(label: str, message: str) -> CustomPatternError:
    return CustomPatternError(f"custom pattern {label}: {message}")


def _str_list(label: str, key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _fail(label, f"{key!r} must be a list of non-empty strings")
    return tuple(value)


def parse_pattern(entry: Any, index: int) -> PatternSpec:
    """Validate one ``patterns[index]`` entry; raise :class:`CustomPatternError` naming it."""
    if not isinstance(entry, Mapping):
        raise _fail(f"#{index + 1} (patterns[{index}])", "entry must be a mapping")
    raw_name = entry.get("name")
    label = f"{raw_name!r} (patterns[{index}])" if isinstance(raw_name, str) and raw_name else f"#{index + 1} (patterns[{index}])"
    unknown = sorted(set(entry) - _PATTERN_KEYS)
    if unknown:
        raise _fail(label, f"unknown field(s) {unknown}; allowed: {sorted(_PATTERN_KEYS)}")
    if not isinstance(raw_name, str) or not raw_name.strip():
        raise _fail(label, "missing required field 'name'")
    type_name = entry.get("type")
    if type_name is None:
        raise _fail(label, "missing required field 'type'")
    if not isinstance(type_name, str) or not _TYPE_NAME.match(type_name):
        raise _fail(label, f"'type' must be UPPER_SNAKE_CASE, got {type_name!r}")
    deny = _str_list(label, "deny_list", entry.get("deny_list"))
    regex_src = entry.get("regex")
    if regex_src is None and not deny:
        raise _fail(label, "missing required field 'regex' (or a non-empty 'deny_list')")
    flags = 0
    ignore_case = entry.get("ignore_case", False)
    if not isinstance(ignore_case, bool):
        raise _fail(label, "'ignore_case' must be true or false")
    if ignore_case:
        flags |= re.IGNORECASE
    compiled: re.Pattern[str] | None = None
    if regex_src is not None:
        if not isinstance(regex_src, str) or not regex_src:
            raise _fail(label, "'regex' must be a non-empty string")
        try:
            compiled = re.compile(regex_src, flags)
        except re.error as exc:
            raise _fail(label, f"invalid regex {regex_src!r}: {exc}") from exc
        if compiled.fullmatch("") is not None:
            raise _fail(label, f"regex {regex_src!r} matches the empty string")
    score = entry.get("score", 0.6)
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0.0 < float(score) <= 1.0:
        raise _fail(label, f"'score' must be a number in (0, 1], got {score!r}")
    validator = entry.get("validator")
    if validator is not None:
        if not isinstance(validator, str):
            raise _fail(label, f"'validator' must be a string, got {validator!r}")
        try:
            get_validator(validator)
        except KeyError as exc:
            raise _fail(label, str(exc.args[0])) from None
    context = entry.get("context") or {}
    if not isinstance(context, Mapping):
        raise _fail(label, "'context' must be a mapping with 'raise'/'lower'/'window'")
    unknown_ctx = sorted(set(context) - _CONTEXT_KEYS)
    if unknown_ctx:
        raise _fail(label, f"unknown context field(s) {unknown_ctx}; allowed: {sorted(_CONTEXT_KEYS)}")
    window = context.get("window", 40)
    if isinstance(window, bool) or not isinstance(window, int) or window <= 0:
        raise _fail(label, f"'context.window' must be a positive integer, got {window!r}")
    level = entry.get("classification", "CONFIDENTIAL")
    try:
        classification = DataClass.parse(level)
    except ValueError as exc:
        raise _fail(label, str(exc)) from None
    return PatternSpec(
        name=raw_name.strip(),
        type=type_name,
        regex=compiled,
        score=float(score),
        validator_name=validator,
        raise_words=_str_list(label, "context.raise", context.get("raise")),
        lower_words=_str_list(label, "context.lower", context.get("lower")),
        window=window,
        allow_list=frozenset(normalize_value(v) for v in _str_list(label, "allow_list", entry.get("allow_list"))),
        deny_list=deny,
        classification=classification,
    )


def parse_config(data: Any, source: str = "<config>") -> CustomConfig:
    """Validate an already-parsed YAML document."""
    if data is None:
        return CustomConfig()
    if not isinstance(data, Mapping):
        raise CustomPatternError(f"{source}: top level must be a mapping with a 'patterns' list")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise CustomPatternError(f"{source}: unknown top-level field(s) {unknown}; allowed: {sorted(_TOP_KEYS)}")
    patterns = data.get("patterns", [])
    if patterns is None:
        patterns = []
    if not isinstance(patterns, list):
        raise CustomPatternError(f"{source}: 'patterns' must be a list")
    config = CustomConfig()
    seen: set[str] = set()
    for index, entry in enumerate(patterns):
        spec = parse_pattern(entry, index)
        if spec.name in seen:
            raise _fail(f"{spec.name!r} (patterns[{index}])", "duplicate pattern name")
        seen.add(spec.name)
        config.patterns.append(PatternRecognizer(spec))
        config.levels[spec.type] = max(config.levels.get(spec.type, spec.classification), spec.classification)
    global_allow = data.get("allow_list")
    if global_allow is not None:
        if not isinstance(global_allow, list) or not all(isinstance(v, str) for v in global_allow):
            raise CustomPatternError(f"{source}: top-level 'allow_list' must be a list of strings")
        config.allow_list = frozenset(normalize_value(v) for v in global_allow)
    return config


def load_custom_patterns(path: str | Path) -> CustomConfig:
    """Read and validate a YAML pattern file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CustomPatternError(f"{path}: cannot read custom pattern file: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CustomPatternError(f"{path}: invalid YAML: {exc}") from exc
    return parse_config(data, str(path))

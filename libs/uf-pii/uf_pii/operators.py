"""De-identification operators and the redaction routine.

Why operators are objects: different sinks need different treatment of the
same finding (logs get type tags, analytics gets keyed hashes that still
join, support tooling gets reversible tokens).  Every operator maps
``(value, finding) -> replacement``; :func:`redact` merges overlapping
findings first and splices replacements right-to-left, so earlier offsets
stay valid and no fragment of an overlapping span survives.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from uf_pii.finding import Finding
from uf_pii.spans import merge_overlaps
from uf_pii.tokens import KeyLookup, tokenize_value


@runtime_checkable
class Operator(Protocol):
    """Turns one detected value into its replacement."""

    @property
    def name(self) -> str:
        """Short operator name (``mask``, ``replace``, ``hash``, ``tokenize``, ...)."""
        ...

    def apply(self, value: str, finding: Finding) -> str:
        """Replacement text for ``value`` (== ``text[finding.start:finding.end]``)."""
        ...


@dataclass(frozen=True)
class Replace:
    """Replace with the type tag, e.g. ``<EMAIL_ADDRESS>`` (the log-filter default)."""

    template: str = "<{type}>"
    name: str = "replace"

    def apply(self, value: str, finding: Finding) -> str:
        return self.template.format(type=finding.type)


@dataclass(frozen=True)
class Mask:
    """Mask characters, keeping the value's shape.

    With ``preserve_format`` only letters and digits are masked (so
    "4111 1111 1111 1111" with ``keep_last=4`` becomes "**** **** **** 1111");
    otherwise every character is.  ``keep_last`` counts masked-class characters.
    """

    char: str = "*"
    keep_last: int = 0
    preserve_format: bool = True
    name: str = "mask"

    def apply(self, value: str, finding: Finding) -> str:
        maskable = [i for i, ch in enumerate(value) if ch.isalnum() or not self.preserve_format]
        keep = set(maskable[len(maskable) - self.keep_last :]) if self.keep_last > 0 else set()
        to_mask = set(maskable) - keep
        return "".join(self.char if i in to_mask else ch for i, ch in enumerate(value))


@dataclass(frozen=True)
class KeyedHash:
    """HMAC-SHA256 of the value under ``key`` (hex), a stable pseudonym that still joins.

    ``template`` may use ``{digest}`` and ``{type}``; ``length`` truncates the hex digest.
    """

    key: bytes
    template: str = "{digest}"
    length: int | None = None
    name: str = "hash"

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("KeyedHash needs a non-empty key")

    def apply(self, value: str, finding: Finding) -> str:
        digest = hmac.new(self.key, value.encode("utf-8"), hashlib.sha256).hexdigest()
        if self.length:
            digest = digest[: self.length]
        return self.template.format(digest=digest, type=finding.type)

    def __repr__(self) -> str:  # never print key material
        return f"KeyedHash(key=<{len(self.key)} bytes>, template={self.template!r})"


KeyIdSelector = str | Callable[[Finding, str], str]


@dataclass(frozen=True)
class Tokenize:
    """Reversible deterministic AES-SIV token (see :mod:`.tokens`).

    ``key_id`` is either a fixed id or ``selector(finding, value) -> key id``,
    which is where per-data-subject keys plug in.
    """

    key_lookup: KeyLookup
    key_id: KeyIdSelector = "default"
    name: str = "tokenize"

    def apply(self, value: str, finding: Finding) -> str:
        key_id = self.key_id(finding, value) if callable(self.key_id) else self.key_id
        return tokenize_value(value, finding.type, key_id, self.key_lookup)


OperatorSpec = Operator | Mapping[str, Operator]
"""One operator for all types, or a per-type mapping with optional ``"DEFAULT"`` key."""


def _pick(spec: OperatorSpec, type_name: str) -> Operator:
    if isinstance(spec, Mapping):
        operator = spec.get(type_name) or spec.get("DEFAULT")
        return operator if operator is not None else Replace()
    return spec


def redact(text: str, findings: Iterable[Finding], operator: OperatorSpec | None = None) -> str:
    """Apply ``operator`` to every (merged) finding and return the new text."""
    spec: OperatorSpec = operator if operator is not None else Replace()
    pieces: list[str] = []
    cursor = len(text)
    for finding in reversed(merge_overlaps(findings)):
        if finding.end > cursor or finding.end > len(text):
            continue  # defensive: never splice outside the text
        pieces.append(text[finding.end : cursor])
        pieces.append(_pick(spec, finding.type).apply(text[finding.start : finding.end], finding))
        cursor = finding.start
    pieces.append(text[:cursor])
    return "".join(reversed(pieces))


OPERATOR_NAMES = ("mask", "replace", "hash", "tokenize")


def make_operator(name: str, *, key: bytes | None = None, key_lookup: KeyLookup | None = None) -> Operator:
    """Build an operator by CLI name; ``hash`` needs ``key``, ``tokenize`` a lookup or key."""
    if name == "replace":
        return Replace()
    if name == "mask":
        return Mask()
    if name == "hash":
        if not key:
            raise ValueError("the 'hash' operator needs a key")
        return KeyedHash(key)
    if name == "tokenize":
        if key_lookup is None:
            if not key:
                raise ValueError("the 'tokenize' operator needs a key or key lookup")
            from uf_pii.tokens import static_key_lookup

            key_lookup = static_key_lookup(key)
        return Tokenize(key_lookup)
    raise ValueError(f"unknown operator {name!r} (known: {', '.join(OPERATOR_NAMES)})")

"""The recognizer plug-in contract.

Why a Protocol instead of an abstract base class: third-party recognizers
arrive through the ``universal_framework.pii_recognizers`` entry-point group
and must not be forced to import (or subclass) anything from this package.
Anything with a ``name``, a ``type_name`` and ``detect(text) -> list[Finding]``
is a recognizer.  ``BaseRecognizer`` is only a convenience for built-ins.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from uf_pii.finding import Explanation, Finding


@runtime_checkable
class Recognizer(Protocol):
    """A detector for one PII type.

    Attributes:
        name: unique registry key (also written into ``Finding.recognizer``).
        type_name: the PII type it emits, e.g. ``"EMAIL_ADDRESS"``.
        requires_nlp: True when it needs spaCy; such recognizers are skipped
            by the structured-only engine used in the log filter.
    """

    name: str
    type_name: str
    requires_nlp: bool

    def detect(self, text: str) -> list[Finding]:
        """Return findings with ``str`` offsets into ``text``."""
        ...


@runtime_checkable
class DocRecognizer(Recognizer, Protocol):
    """An NLP recognizer that works on an already-parsed text.

    The engine parses every text once per ``backend`` (batched through
    ``backend.pipe(texts, batch_size)``, i.e. ``nlp.pipe``) and hands the same
    parse result to all NLP recognizers sharing that backend; ``detect``
    remains available for standalone use.  For the built-in
    :class:`~.nlp.SpacyBackend` the parse result is a list of
    ``(label, start, end)`` entities in original ``str`` offsets.
    """

    backend: Any

    def detect_doc(self, text: str, doc: Any) -> list[Finding]:
        """Return findings for ``text`` given its parse result ``doc``."""
        ...


class BaseRecognizer:
    """Convenience defaults for the built-in recognizers."""

    name: str = ""
    type_name: str = ""
    requires_nlp: bool = False
    version: str = "1.0.0"
    """Bumped whenever what the recognizer reports changes; carried by every finding."""
    method: str = "pattern"

    def detect(self, text: str) -> list[Finding]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _finding(
        self,
        start: int,
        end: int,
        score: float,
        *,
        pattern_name: str = "",
        pattern: str = "",
        original_score: float | None = None,
        context: tuple[str, ...] = (),
        validation: str = "",
        why: str = "",
        type_name: str | None = None,
    ) -> Finding:
        """Build a finding stamped with this recognizer's type (or ``type_name``), name, version and explanation."""
        score = min(1.0, max(0.0, score))
        explain = Explanation(
            self.name, self.version, self.method, pattern_name or self.type_name.lower(), pattern,
            score if original_score is None else original_score, score, context, validation, why,
        )
        return Finding(type_name or self.type_name, start, end, score, self.name, self.version, explain)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} type={self.type_name!r}>"

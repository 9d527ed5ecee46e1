"""The one value type every recognizer, operator and consumer shares.

Why a frozen dataclass: findings flow from recognizers through merging,
classification and redaction, and are handed to gRPC/Kafka/log callers.  Making
them immutable and hashable means no stage can silently shift an offset that a
later stage relies on, and findings can be de-duplicated with sets.

Every finding names the recognizer that made it and that recognizer's version, so an auditor can
tell which engine saw a document; its :class:`Explanation` (Presidio's "decision process") says
why: the pattern or model, the context words or field label that changed the score, and the
score before and after.  Neither takes part in equality or hashing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a span was reported (``ufctl pii scan --explain``).

    ``original_score`` is the recognizer's score for the bare match; ``score`` the final one after
    context; ``context`` lists the words (or ``field:<label>`` for a column header / JSON key) that
    changed it; ``overruled`` names overlapping candidates that lost the merge (``type/recognizer@score``).
    """

    recognizer: str
    version: str
    method: str
    pattern_name: str
    pattern: str
    original_score: float
    score: float
    context: tuple[str, ...] = ()
    validation: str = ""
    text: str = ""
    overruled: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """JSON form (no matched value is ever part of it)."""
        out: dict[str, object] = {
            "recognizer": self.recognizer,
            "version": self.version,
            "method": self.method,
            "pattern_name": self.pattern_name,
            "pattern": self.pattern,
            "original_score": round(self.original_score, 4),
            "score": round(self.score, 4),
            "score_context_improvement": round(self.score - self.original_score, 4),
            "context": list(self.context),
        }
        if self.validation:
            out["validation"] = self.validation
        if self.text:
            out["textual_explanation"] = self.text
        if self.overruled:
            out["overruled"] = list(self.overruled)
        return out


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected PII span.

    ``start``/``end`` are Python ``str`` indices (code points, end exclusive),
    i.e. ``text[start:end]`` is the detected value.  They are *not* byte or
    UTF-16 offsets, which is why they stay correct on emoji, accents and CJK.
    """

    type: str
    start: int
    end: int
    score: float
    recognizer: str
    recognizer_version: str = field(default="", compare=False)
    explain: Explanation | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.start < 0 or self.end <= self.start:
            raise ValueError(f"invalid span [{self.start}, {self.end}) for {self.type}")
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score {self.score} outside [0, 1] for {self.type}")

    @property
    def length(self) -> int:
        """Span length in code points (used to prefer the widest span)."""
        return self.end - self.start

    def overlaps(self, other: Finding) -> bool:
        """True when the two half-open spans share at least one character."""
        return self.start < other.end and other.start < self.end

    def with_score(self, score: float, why: str, context: tuple[str, ...] = ()) -> Finding:
        """A copy re-scored by a later stage (engine-level context), the reason kept in the explanation."""
        score = min(1.0, max(0.0, score))
        explain = self.explain
        if explain is not None:
            explain = replace(explain, score=score, context=explain.context + context,
                              text=(explain.text + "; " if explain.text else "") + why)
        return replace(self, score=score, explain=explain)

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form used by the CLI, gRPC mapping and Kafka events."""
        return {
            "type": self.type,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 4),
        }

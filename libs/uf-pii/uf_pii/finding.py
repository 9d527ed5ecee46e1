"""The one value type every recognizer, operator and consumer shares.

Why a frozen dataclass: findings flow from recognizers through merging,
classification and redaction, and are handed to gRPC/Kafka/log callers.  Making
them immutable and hashable means no stage can silently shift an offset that a
later stage relies on, and findings can be de-duplicated with sets.
"""

from __future__ import annotations

from dataclasses import dataclass


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

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form used by the CLI, gRPC mapping and Kafka events."""
        return {
            "type": self.type,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 4),
        }

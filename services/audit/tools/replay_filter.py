"""What a replay rebuilds: events by time range, workflow and/or data subject (pseudonym).
The same filter is evaluated on a projected document (while rebuilding) and as an
OpenSearch query (to carry over what is *not* rebuilt), so the two always agree."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ReplayFilter:
    from_ms: int | None = None
    to_ms: int | None = None  # exclusive
    workflows: tuple[str, ...] = field(default_factory=tuple)
    subjects: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_full(self) -> bool:
        return self.from_ms is None and self.to_ms is None and not self.workflows and not self.subjects

    def matches(self, doc: dict[str, Any]) -> bool:
        at = doc.get("occurred_at") or 0
        if self.from_ms is not None and at < self.from_ms:
            return False
        if self.to_ms is not None and at >= self.to_ms:
            return False
        if self.workflows and doc.get("workflow_id") not in self.workflows:
            return False
        return not (self.subjects and not set(doc.get("subject_ids") or ()) & set(self.subjects))

    def es_query(self) -> dict[str, Any]:
        clauses: list[dict[str, Any]] = []
        if self.from_ms is not None or self.to_ms is not None:
            rng: dict[str, Any] = {}
            if self.from_ms is not None:
                rng["gte"] = self.from_ms
            if self.to_ms is not None:
                rng["lt"] = self.to_ms
            clauses.append({"range": {"occurred_at": rng}})
        if self.workflows:
            clauses.append({"terms": {"workflow_id": list(self.workflows)}})
        if self.subjects:
            clauses.append({"terms": {"subject_ids": list(self.subjects)}})
        return {"bool": {"filter": clauses}} if clauses else {"match_all": {}}

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["workflows"], d["subjects"] = list(self.workflows), list(self.subjects)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ReplayFilter:
        return cls(d.get("from_ms"), d.get("to_ms"), tuple(d.get("workflows") or ()), tuple(d.get("subjects") or ()))

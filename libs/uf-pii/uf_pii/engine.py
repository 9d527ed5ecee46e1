"""The ``Engine`` facade: what services call.

Why a facade: gRPC servicers, Kafka consumers, the CLI and the log filter
all need the same sequence — run recognizers, drop low scores and
allow-listed values, let checksum-validated findings win over fuzzy NER,
merge overlaps — and should not re-implement it.  Two modes:

* ``Engine(registry, nlp=True)``: everything, spaCy parsing batched through
  ``nlp.pipe`` in :meth:`Engine.scan_many`;
* ``Engine(registry, nlp=False)`` / :meth:`Engine.structured`: structured
  types only, never imports or loads spaCy; this is what the log filter uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from uf_pii.classification import DataClass, classify
from uf_pii.conflicts import resolve_id_phone
from uf_pii.custom_patterns import normalize_value
from uf_pii.finding import Finding
from uf_pii.operators import OperatorSpec, redact
from uf_pii.recognizer import DocRecognizer, Recognizer
from uf_pii.registry import ENTRY_POINT_GROUP, RecognizerRegistry, default_registry
from uf_pii.spans import merge_overlaps
from uf_pii.textview import joined_quote
from uf_pii.version import __version__

DEFAULT_MIN_SCORE = 0.5


class Engine:
    """Scan, classify and redact text with the recognizers of a registry."""

    def __init__(
        self,
        registry: RecognizerRegistry | None = None,
        nlp: bool = True,
        *,
        min_score: float = DEFAULT_MIN_SCORE,
        merge: bool = True,
    ) -> None:
        """
        Args:
            registry: recognizers to run; ``None`` builds :func:`default_registry`
                (built-ins, entry-point plug-ins; NLP ones only if ``nlp``).
            nlp: run spaCy-based recognizers; ``False`` is the fast structured mode.
            min_score: findings scoring below this are dropped.
            merge: merge overlapping findings (see :func:`merge_overlaps`).
        """
        self.registry = registry if registry is not None else default_registry(nlp=nlp)
        self.nlp = nlp
        self.min_score = min_score
        self.merge = merge
        self._structured: list[Recognizer] = self.registry.structured()
        self._nlp: list[Recognizer] = self.registry.nlp_recognizers() if nlp else []

    @classmethod
    def structured(
        cls, registry: RecognizerRegistry | None = None, *, regions: Sequence[str] | None = None, **kwargs: Any
    ) -> Engine:
        """Fast structured-only engine (no spaCy) for hot paths such as logging."""
        if registry is None:
            registry = default_registry(regions=regions, nlp=False, entry_point_group=ENTRY_POINT_GROUP)
        return cls(registry, nlp=False, **kwargs)

    # -- scanning ---------------------------------------------------------
    def scan(self, text: str) -> list[Finding]:
        """Findings in ``text`` (str offsets), merged and sorted by start."""
        structured = self._run_structured(text)
        nlp_findings: list[Finding] = []
        if self._nlp:
            docs: dict[int, Any] = {}
            for recognizer in self._nlp:
                backend = getattr(recognizer, "backend", None)
                if backend is not None and isinstance(recognizer, DocRecognizer):
                    key = id(backend)
                    if key not in docs:
                        docs[key] = backend.parse(text)
                    nlp_findings.extend(recognizer.detect_doc(text, docs[key]))
                else:
                    nlp_findings.extend(recognizer.detect(text))
        return self._finalize(text, structured, nlp_findings)

    def scan_many(self, texts: Iterable[str], batch_size: int = 64) -> list[list[Finding]]:
        """Scan many texts; spaCy parses them in batches of ``batch_size``."""
        return list(self.iter_scan(texts, batch_size))

    def iter_scan(self, texts: Iterable[str], batch_size: int = 64) -> Iterator[list[Finding]]:
        """Streaming :meth:`scan_many` (one result list per input, in order)."""
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        batch: list[str] = []
        for text in texts:
            batch.append(text)
            if len(batch) >= batch_size:
                yield from self._scan_batch(batch, batch_size)
                batch = []
        if batch:
            yield from self._scan_batch(batch, batch_size)

    def _scan_batch(self, texts: list[str], batch_size: int) -> list[list[Finding]]:
        nlp_results: list[list[Finding]] = [[] for _ in texts]
        if self._nlp:
            by_backend: dict[int, tuple[Any, list[DocRecognizer]]] = {}
            for recognizer in self._nlp:
                backend = getattr(recognizer, "backend", None)
                if backend is not None and isinstance(recognizer, DocRecognizer) and hasattr(backend, "pipe"):
                    by_backend.setdefault(id(backend), (backend, []))[1].append(recognizer)
                else:
                    for i, text in enumerate(texts):
                        nlp_results[i].extend(recognizer.detect(text))
            for backend, recognizers in by_backend.values():
                for i, doc in enumerate(backend.pipe(texts, batch_size=batch_size)):
                    for recognizer in recognizers:
                        nlp_results[i].extend(recognizer.detect_doc(texts[i], doc))
        return [
            self._finalize(text, self._run_structured(text), nlp_results[i]) for i, text in enumerate(texts)
        ]

    def _run_structured(self, text: str) -> list[Finding]:
        findings: list[Finding] = []
        for recognizer in self._structured:
            findings.extend(recognizer.detect(text))
        joined = joined_quote(text)
        if joined is not None:
            # A quoted reply is read a second time with its quote markers removed, so a value wrapped
            # inside it is one value again (see JoinedQuote); overlaps merge with the first reading.
            for recognizer in self._structured:
                for finding in recognizer.detect(joined.text):
                    start, end = joined.to_original(finding.start, finding.end)
                    findings.append(replace(finding, start=start, end=end).with_score(
                        finding.score, "read with the reply's quote markers removed"))
        return findings

    def _finalize(self, text: str, structured: list[Finding], nlp_findings: list[Finding]) -> list[Finding]:
        """Threshold, allow-list, let structured findings beat NER, merge."""
        kept = resolve_id_phone(text, [f for f in structured if f.score >= self.min_score])
        if nlp_findings:
            # A checksum/format-validated span is more trustworthy than a
            # statistical guess; NER spans touching one are noise ("jane" in
            # "jane at example dot com").
            validated = list(kept)  # NLP findings compete with each other in the merge, not here
            for finding in nlp_findings:
                if finding.score >= self.min_score and not any(finding.overlaps(s) for s in validated):
                    kept.append(finding)
        allow = self.registry.allow_list
        if allow:
            kept = [f for f in kept if normalize_value(text[f.start : f.end]) not in allow]
        if self.merge:
            return merge_overlaps(kept)
        return sorted(kept, key=lambda f: (f.start, f.end))

    @property
    def version(self) -> str:
        """``uf-pii <library version>``; each finding also carries its recognizer's own version."""
        return f"uf-pii {__version__}"

    def recognizer_versions(self) -> dict[str, str]:
        """``name -> version`` of every recognizer this engine runs (plug-ins without one: ``""``)."""
        active = self._structured + self._nlp
        return {r.name: str(getattr(r, "version", "")) for r in active}

    # -- policy -----------------------------------------------------------
    def classify(self, findings: Iterable[Finding]) -> DataClass:
        """Data classification of a payload from its findings (see :mod:`.classification`)."""
        return classify(findings, self.registry.levels)

    def redact(self, text: str, operator: OperatorSpec | None = None, findings: Iterable[Finding] | None = None) -> str:
        """Scan (unless ``findings`` are given) and replace PII using ``operator``."""
        return redact(text, self.scan(text) if findings is None else findings, operator)

    @property
    def supported_types(self) -> set[str]:
        """Types this engine can report in its current mode."""
        return self.registry.supported_types(nlp=self.nlp)

    def known_types(self) -> set[str]:
        """Same as :attr:`supported_types` (method form for callers filtering requests)."""
        return self.registry.supported_types(nlp=self.nlp)

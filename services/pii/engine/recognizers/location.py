"""LOCATION: places from spaCy NER (GPE, LOC and FAC labels).

Why these labels: GPE (countries, cities, states), LOC (non-political
places: mountains, rivers) and FAC (buildings, airports, bridges) all locate
a data subject; ORG and NORP do not and are ignored.
"""

from __future__ import annotations

from typing import Any

from ..finding import Finding
from ..nlp import SpacyBackend, shared_backend
from ..recognizer import BaseRecognizer
from ._ner import entity_findings


class LocationRecognizer(BaseRecognizer):
    """Detects locations with spaCy."""

    name = "spacy_location"
    type_name = "LOCATION"
    requires_nlp = True
    LABELS = ("GPE", "LOC", "FAC")
    SCORE = 0.85

    def __init__(self, backend: SpacyBackend | None = None) -> None:
        self.backend = backend or shared_backend()

    def detect(self, text: str) -> list[Finding]:
        return self.detect_doc(text, self.backend.parse(text))

    def detect_doc(self, text: str, doc: Any) -> list[Finding]:
        """``doc`` is the backend's ``(label, start, end)`` entity list for ``text``."""
        return entity_findings(text, doc, self.LABELS, self.type_name, self.name, self.SCORE)

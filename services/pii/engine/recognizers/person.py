"""PERSON: people's names from spaCy NER (label PERSON).

Why spaCy: names have no structure to validate; a statistical model is the
only practical signal.  The backend is shared with LOCATION so each text is
parsed once, and ``detect_doc`` lets the engine batch parsing via
``nlp.pipe``.
"""

from __future__ import annotations

from typing import Any

from ..finding import Finding
from ..nlp import SpacyBackend, shared_backend
from ..recognizer import BaseRecognizer
from ._ner import entity_findings


class PersonRecognizer(BaseRecognizer):
    """Detects person names with spaCy."""

    name = "spacy_person"
    type_name = "PERSON"
    requires_nlp = True
    LABELS = ("PERSON",)
    SCORE = 0.85

    def __init__(self, backend: SpacyBackend | None = None) -> None:
        self.backend = backend or shared_backend()

    def detect(self, text: str) -> list[Finding]:
        return self.detect_doc(text, self.backend.parse(text))

    def detect_doc(self, text: str, doc: Any) -> list[Finding]:
        """``doc`` is the backend's ``(label, start, end)`` entity list for ``text``."""
        return entity_findings(text, doc, self.LABELS, self.type_name, self.name, self.SCORE)

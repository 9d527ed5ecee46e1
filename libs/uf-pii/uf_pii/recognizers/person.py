"""PERSON: people's names from spaCy NER (label PERSON).

Why spaCy: names have no structure to validate; a statistical model is the
only practical signal.  The backend is shared with LOCATION so each text is
parsed once, and ``detect_doc`` lets the engine batch parsing via
``nlp.pipe``.
"""

from __future__ import annotations

from uf_pii.recognizers._ner import NerRecognizer


class PersonRecognizer(NerRecognizer):
    """Detects person names with spaCy."""

    name = "spacy_person"
    type_name = "PERSON"
    LABELS = ("PERSON",)
    SCORE = 0.85

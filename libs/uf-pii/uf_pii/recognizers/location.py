"""LOCATION: places from spaCy NER (GPE, LOC and FAC labels).

Why these labels: GPE (countries, cities, states), LOC (non-political
places: mountains, rivers) and FAC (buildings, airports, bridges) all locate
a data subject; ORG and NORP do not and are ignored.
"""

from __future__ import annotations

from uf_pii.recognizers._ner import NerRecognizer


class LocationRecognizer(NerRecognizer):
    """Detects locations with spaCy."""

    name = "spacy_location"
    type_name = "LOCATION"
    LABELS = ("GPE", "LOC", "FAC")
    SCORE = 0.85

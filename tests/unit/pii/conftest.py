"""Shared fixtures: engines are built once per session (spaCy loads once)."""

from __future__ import annotations

import pytest

from uf_pii import Engine, default_registry


@pytest.fixture(scope="session")
def full_engine() -> Engine:
    """Engine with spaCy PERSON/LOCATION (model loaded once for the whole session)."""
    return Engine(default_registry(entry_point_group=None), nlp=True)


@pytest.fixture(scope="session")
def structured_engine() -> Engine:
    """Structured-only engine (what the log filter uses)."""
    return Engine(default_registry(nlp=False, entry_point_group=None), nlp=False)


def spans(text: str, findings) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """``(type, value)`` pairs, handy for assertions."""
    return [(f.type, text[f.start : f.end]) for f in findings]

"""Registry: code registration, entry-point plug-ins, defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.pii.plugin_fixture import BadgeRecognizer
from uf_pii import ENTRY_POINT_GROUP, Engine, RecognizerRegistry, RegistryError, default_registry


def _fake_distribution(root: Path, entry_points: str) -> None:
    dist = root / "acme_pii-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-pii\nVersion: 1.0\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry_points}", encoding="utf-8")


def test_register_by_code_and_duplicates() -> None:
    registry = RecognizerRegistry()
    registry.register(BadgeRecognizer())
    assert "acme_badge" in registry and len(registry) == 1
    assert registry.get("acme_badge").requires_nlp is False  # defaulted for duck-typed plug-ins
    with pytest.raises(RegistryError, match="already registered"):
        registry.register(BadgeRecognizer())
    registry.register(BadgeRecognizer(), replace=True)
    registry.unregister("acme_badge")
    assert len(registry) == 0


def test_register_rejects_non_recognizers() -> None:
    with pytest.raises(RegistryError, match="name"):
        RecognizerRegistry().register(object())


def test_entry_point_plugins_are_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_distribution(
        tmp_path,
        "badge = tests.unit.pii.plugin_fixture:BadgeRecognizer\n"
        "badge_factory = tests.unit.pii.plugin_fixture:make_recognizers\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = RecognizerRegistry()
    added = registry.load_entry_points()
    assert sorted(added) == ["acme_badge", "acme_badge_factory"]
    engine = Engine(registry, nlp=False)
    assert [(f.type, f.recognizer) for f in engine.scan("door BADGE-12345 opened")][0][0] == "ACME_BADGE"


def test_broken_plugin_names_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_distribution(tmp_path, "boom = tests.unit.pii.plugin_fixture:broken\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RegistryError, match="'boom'.*plug-in exploded"):
        RecognizerRegistry().load_entry_points()


def test_default_registry_contents() -> None:
    structured = default_registry(nlp=False, entry_point_group=None)
    assert structured.supported_types() == {
        "EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "CA_SIN", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "STREET_ADDRESS",
    }
    assert structured.nlp_recognizers() == []
    full = default_registry(entry_point_group=None)
    assert {"PERSON", "LOCATION"} <= full.supported_types()
    assert {r.type_name for r in full.nlp_recognizers()} == {"PERSON", "LOCATION"}


def test_default_registry_with_custom_patterns(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("patterns:\n  - name: emp\n    type: EMPLOYEE_ID\n    regex: 'EMP-\\d{6}'\n", encoding="utf-8")
    registry = default_registry(nlp=False, custom_patterns=path, entry_point_group=None)
    assert "custom:emp" in registry
    registry.add(BadgeRecognizer())
    assert "acme_badge" in registry.names

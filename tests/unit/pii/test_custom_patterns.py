"""YAML custom patterns: good configs work, every kind of bad config fails at load naming the pattern."""

from __future__ import annotations

from pathlib import Path

import pytest

from uf_pii import CustomPatternError, DataClass, Engine, RecognizerRegistry, load_custom_patterns

GOOD = """
allow_list: ["support@universal.example"]
patterns:
  - name: employee_id
    type: EMPLOYEE_ID
    regex: '\\bEMP-\\d{6}\\b'
    score: 0.5
    context:
      raise: [employee, staff]
      lower: [example, sample]
    allow_list: ["EMP-000000"]
    classification: RESTRICTED
  - name: loyalty_card
    type: LOYALTY_CARD
    regex: '\\bLC(?P<pii>\\d{12})\\b'
    validator: luhn
    score: 0.9
  - name: codenames
    type: PROJECT_CODENAME
    deny_list: ["Project Falcon"]
"""


@pytest.fixture()
def good_file(tmp_path: Path) -> Path:
    path = tmp_path / "patterns.yaml"
    path.write_text(GOOD, encoding="utf-8")
    return path


@pytest.fixture()
def engine(good_file: Path) -> Engine:
    registry = RecognizerRegistry()
    registry.load_custom_patterns(good_file)
    from uf_pii.recognizers.email import EmailRecognizer

    registry.register(EmailRecognizer())
    return Engine(registry, nlp=False)


def test_good_config_loads(good_file: Path) -> None:
    config = load_custom_patterns(good_file)
    assert [r.name for r in config.recognizers()] == ["custom:employee_id", "custom:loyalty_card", "custom:codenames"]
    assert config.levels["EMPLOYEE_ID"] is DataClass.RESTRICTED
    assert config.levels["LOYALTY_CARD"] is DataClass.CONFIDENTIAL


def test_context_words_raise_and_lower_the_score(engine: Engine) -> None:
    raised = engine.scan("employee EMP-123456 joined")
    assert [(f.type, f.score) for f in raised] == [("EMPLOYEE_ID", 0.85)]
    assert engine.scan("see EMP-123456 today") == [engine.scan("see EMP-123456 today")[0]]
    assert engine.scan("example EMP-123456 only") == []  # 0.5 - 0.35 < min_score


def test_allow_and_deny_lists(engine: Engine) -> None:
    assert engine.scan("staff EMP-000000 is a placeholder") == []
    text = "Status of project falcon: green. Mail support@universal.example"
    found = [(f.type, text[f.start : f.end]) for f in engine.scan(text)]
    assert found == [("PROJECT_CODENAME", "project falcon")]  # global allow-list hides the support address


def test_validator_and_named_group(engine: Engine) -> None:
    text = "card LC411111111117 and LC411111111116"
    found = [text[f.start : f.end] for f in engine.scan(text)]
    assert found == ["411111111117"]


def test_classification_uses_custom_levels(engine: Engine) -> None:
    assert engine.classify(engine.scan("staff EMP-123456")) is DataClass.RESTRICTED


def _load(tmp_path: Path, body: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.yaml"
    path.write_text(body, encoding="utf-8")
    return load_custom_patterns(path)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("patterns:\n  - name: broken\n    type: X\n    regex: 'EMP-(\\d{6}'\n", r"'broken'.*invalid regex"),
        ("patterns:\n  - name: crc\n    type: X\n    regex: 'a'\n    validator: crc32\n", r"'crc'.*unknown validator 'crc32'"),
        ("patterns:\n  - name: no_type\n    regex: 'a'\n", r"'no_type'.*missing required field 'type'"),
        ("patterns:\n  - name: no_regex\n    type: X\n", r"'no_regex'.*missing required field 'regex'"),
        ("patterns:\n  - type: X\n    regex: 'a'\n", r"#1 \(patterns\[0\]\).*missing required field 'name'"),
        ("patterns:\n  - name: lower\n    type: lower_case\n    regex: 'a'\n", r"'lower'.*UPPER_SNAKE_CASE"),
        ("patterns:\n  - name: empty\n    type: X\n    regex: 'a*'\n", r"'empty'.*matches the empty string"),
        ("patterns:\n  - name: s\n    type: X\n    regex: 'a'\n    score: 2\n", r"'s'.*'score' must be a number"),
        ("patterns:\n  - name: typo\n    type: X\n    regex: 'a'\n    contxt: {}\n", r"'typo'.*unknown field"),
        ("patterns:\n  - name: c\n    type: X\n    regex: 'a'\n    context: {rise: [x]}\n", r"'c'.*unknown context field"),
        ("patterns:\n  - name: cl\n    type: X\n    regex: 'a'\n    classification: SECRET\n", r"'cl'.*unknown classification"),
        ("patterns:\n  - name: dup\n    type: X\n    regex: 'a'\n  - name: dup\n    type: X\n    regex: 'b'\n", r"'dup'.*duplicate"),
        ("patterns:\n  - name: al\n    type: X\n    regex: 'a'\n    allow_list: nope\n", r"'al'.*'allow_list' must be a list"),
        ("patterns: {}\n", r"'patterns' must be a list"),
        ("- just\n- a list\n", r"top level must be a mapping"),
        ("patterns: [\n", r"invalid YAML"),
    ],
)
def test_bad_configs_fail_at_load_with_the_pattern_named(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(CustomPatternError, match=message):
        _load(tmp_path, body)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CustomPatternError, match="cannot read"):
        load_custom_patterns(tmp_path / "nope.yaml")

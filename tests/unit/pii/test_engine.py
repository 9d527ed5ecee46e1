"""Engine facade: full mode (spaCy, batched), structured mode, overlaps, Unicode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.unit.pii.conftest import spans
from uf_pii import DataClass, Engine, Replace

TEXT = (
    "Please ask Maria Garcia in Berlin to mail jane.doe@example.com or call +44 20 7946 0958. "
    "Card 4111 1111 1111 1111, SSN 138-73-1034, IBAN DE89 3704 0044 0532 0130 00, from 2001:db8::1."
)


def test_full_scan_finds_every_type(full_engine: Engine) -> None:
    found = spans(TEXT, full_engine.scan(TEXT))
    assert ("PERSON", "Maria Garcia") in found
    assert ("LOCATION", "Berlin") in found
    for pair in [
        ("EMAIL_ADDRESS", "jane.doe@example.com"),
        ("PHONE_NUMBER", "+44 20 7946 0958"),
        ("CREDIT_CARD", "4111 1111 1111 1111"),
        ("US_SSN", "138-73-1034"),
        ("IBAN_CODE", "DE89 3704 0044 0532 0130 00"),
        ("IP_ADDRESS", "2001:db8::1"),
    ]:
        assert pair in found
    assert full_engine.classify(full_engine.scan(TEXT)) is DataClass.RESTRICTED


def test_scan_many_matches_scan(full_engine: Engine) -> None:
    texts = [TEXT, "", "nothing to see here", "JOHN SMITH MOVED TO LONDON.", "Tel: 020 7946 0958 😀"]
    batched = full_engine.scan_many(texts, batch_size=2)
    assert batched == [full_engine.scan(t) for t in texts]
    assert batched[1] == [] and batched[2] == []


def test_shouting_text_and_wrapped_names(full_engine: Engine) -> None:
    text = "PLEASE FORWARD THE INVOICE TO MARIA GARCIA IN BERLIN BEFORE FRIDAY."
    found = spans(text, full_engine.scan(text))
    assert ("PERSON", "MARIA GARCIA") in found and ("LOCATION", "BERLIN") in found


def test_ner_offsets_are_mapped_back_after_noise_removal(full_engine: Engine) -> None:
    text = '{"id": 12345, "name": "Maria Garcia", "phone": "+1 415-555-0132", "city": "Berlin"} 😀'
    for finding in full_engine.scan(text):
        assert text[finding.start : finding.end] in ("Maria Garcia", "+1 415-555-0132", "Berlin")


def test_structured_findings_beat_ner(full_engine: Engine) -> None:
    text = "write to jane at example dot com"
    assert spans(text, full_engine.scan(text)) == [("EMAIL_ADDRESS", "jane at example dot com")]


def test_structured_mode_has_no_nlp(structured_engine: Engine) -> None:
    assert not structured_engine.nlp
    assert "PERSON" not in structured_engine.known_types()
    assert [f.type for f in structured_engine.scan(TEXT)] == [
        "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS",
    ]


def test_structured_engine_never_imports_spacy() -> None:
    code = (
        "import sys\n"
        "from uf_pii import Engine\n"
        "e = Engine.structured()\n"
        "assert e.scan('mail a@example.com')\n"
        "assert 'spacy' not in sys.modules, 'spaCy imported'\n"
    )
    repo_root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(repo_root), os.environ.get("PYTHONPATH")]))}
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, env=env, cwd=repo_root)


def test_unicode_redaction_round_trip(structured_engine: Engine) -> None:
    text = "東京👍🏽 josé@example.com ✨ 4111-1111-1111-1111 ñ"
    assert structured_engine.redact(text, Replace()) == "東京👍🏽 <EMAIL_ADDRESS> ✨ <CREDIT_CARD> ñ"


def test_min_score_filters(structured_engine: Engine) -> None:
    strict = Engine(structured_engine.registry, nlp=False, min_score=0.99)
    text = "call (415) 555-0132 or mail a@example.com"
    assert [f.type for f in strict.scan(text)] == ["EMAIL_ADDRESS"]

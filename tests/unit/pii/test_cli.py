"""``ufctl pii scan`` (run_scan / add_arguments)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from uf_pii import Engine, cli, detokenize, static_key_lookup

KEY_HEX = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture()
def input_file(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "in.jsonl",
        [
            json.dumps({"id": "a", "text": "Mail jane.doe@example.com or call +44 20 7946 0958. Ask Maria Garcia in Berlin."}),
            json.dumps({"id": "b", "text": "😀 card 4111 1111 1111 1111"}),
            json.dumps({"id": "c", "text": "nothing here"}),
        ],
    )


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_good_file(input_file: Path, tmp_path: Path, full_engine: Engine) -> None:
    out = tmp_path / "out.jsonl"
    assert cli.run_scan(str(input_file), str(out), None, engine=full_engine) == 0
    rows = _read(out)
    assert [r["id"] for r in rows] == ["a", "b", "c"]
    assert {f["type"] for f in rows[0]["findings"]} == {"EMAIL_ADDRESS", "PHONE_NUMBER", "PERSON", "LOCATION"}
    card = rows[1]["findings"][0]
    assert card == {"type": "CREDIT_CARD", "start": 7, "end": 26, "score": 1.0}  # str offsets after the emoji
    assert rows[2]["findings"] == [] and "redacted" not in rows[2]


def test_replace_redaction(input_file: Path, tmp_path: Path, full_engine: Engine) -> None:
    out = tmp_path / "out.jsonl"
    assert cli.run_scan(str(input_file), str(out), "replace", engine=full_engine) == 0
    rows = _read(out)
    assert rows[0]["redacted"] == "Mail <EMAIL_ADDRESS> or call <PHONE_NUMBER>. Ask <PERSON> in <LOCATION>."
    assert rows[1]["redacted"] == "😀 card <CREDIT_CARD>"


def test_tokenize_uses_uf_pii_key(input_file: Path, tmp_path: Path, structured_engine: Engine,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UF_PII_KEY", KEY_HEX)
    out = tmp_path / "out.jsonl"
    assert cli.run_scan(str(input_file), str(out), "tokenize", engine=structured_engine) == 0
    redacted = _read(out)[1]["redacted"]
    assert "4111" not in redacted
    assert detokenize(redacted, static_key_lookup(bytes.fromhex(KEY_HEX))) == "😀 card 4111 1111 1111 1111"


def test_hash_without_key_warns_and_uses_ephemeral_key(input_file: Path, tmp_path: Path, structured_engine: Engine,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("UF_PII_KEY", raising=False)
    out = tmp_path / "out.jsonl"
    assert cli.run_scan(str(input_file), str(out), "hash", engine=structured_engine) == 0
    assert "ephemeral" in capsys.readouterr().err
    assert len(_read(out)[1]["redacted"].split()[-1]) == 64


def test_bad_key_is_an_error(input_file: Path, tmp_path: Path, structured_engine: Engine,
                             monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("UF_PII_KEY", "not-hex")
    assert cli.run_scan(str(input_file), str(tmp_path / "o.jsonl"), "hash", engine=structured_engine) == 2
    assert "UF_PII_KEY" in capsys.readouterr().err


def test_malformed_lines_are_reported_and_the_rest_processed(tmp_path: Path, structured_engine: Engine,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    source = _write(
        tmp_path / "in.jsonl",
        [
            json.dumps({"id": "1", "text": "a@example.com"}),
            "{not json",
            json.dumps({"id": "3"}),
            "",
            json.dumps(["id", "text"]),
            json.dumps({"id": 6, "text": "x"}),
            json.dumps({"id": "7", "text": "SSN 138-73-1034"}),
        ],
    )
    out = tmp_path / "out.jsonl"
    code = cli.run_scan(str(source), str(out), None, engine=structured_engine)
    err = capsys.readouterr().err
    assert code != 0
    assert "line 2: invalid JSON" in err
    assert "line 3: missing field(s): text" in err
    assert "line 5: expected a JSON object" in err
    assert "line 6: 'id' and 'text' must be strings" in err
    assert "line 4" not in err  # blank lines are ignored
    rows = _read(out)
    assert [r["id"] for r in rows] == ["1", "7"]
    assert rows[1]["findings"][0]["type"] == "US_SSN"


def test_missing_input_file(tmp_path: Path, structured_engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run_scan(str(tmp_path / "nope.jsonl"), str(tmp_path / "o"), None, engine=structured_engine) == 2
    assert "nope.jsonl" in capsys.readouterr().err


def test_add_arguments_mounts_on_a_main_parser(input_file: Path, tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="ufctl")
    pii = parser.add_subparsers(dest="cmd").add_parser("pii").add_subparsers(dest="pii_cmd")
    cli.add_arguments(pii.add_parser("scan"))
    out = tmp_path / "o.jsonl"
    args = parser.parse_args(["pii", "scan", "--jsonl", str(input_file), "--out", str(out), "--redact", "mask", "--no-nlp"])
    assert args.func is cli.command and args.redact == "mask"
    assert args.func(args) == 0
    assert _read(out)[1]["redacted"] == "😀 card **** **** **** ****"
    with pytest.raises(SystemExit):
        parser.parse_args(["pii", "scan", "--jsonl", "x", "--out", "y", "--redact", "shred"])


def test_explain_adds_one_object_per_finding_and_changes_nothing_else(tmp_path: Path, full_engine: Engine) -> None:
    source = _write(tmp_path / "in.jsonl", [
        json.dumps({"id": "x", "text": "Is 030123456 still the SSN you have? Mail jane.doe@example.com"}),
        json.dumps({"id": "y", "text": "ssn,name\n078051120,Maria Garcia\n"}),
    ])
    plain, explained = tmp_path / "plain.jsonl", tmp_path / "explained.jsonl"
    assert cli.run_scan(str(source), str(plain), None, engine=full_engine) == 0
    assert cli.run_scan(str(source), str(explained), None, engine=full_engine, explain=True) == 0
    rows_plain, rows_explained = _read(plain), _read(explained)
    for a, b in zip(rows_plain, rows_explained, strict=True):
        assert [{k: v for k, v in f.items() if k != "explain"} for f in b["findings"]] == a["findings"]
        assert all(set(f) == {"type", "start", "end", "score", "explain"} for f in b["findings"])
    ssn = next(f for f in rows_explained[0]["findings"] if f["type"] == "US_SSN")["explain"]
    assert ssn["recognizer"] == "us_ssn" and ssn["version"]
    assert ssn["pattern_name"] == "bare, context window" and "ssn" in ssn["context"]
    assert ssn["original_score"] < ssn["score"] and any(o.startswith("PHONE_NUMBER/phone") for o in ssn["overruled"])
    column = next(f for f in rows_explained[1]["findings"] if f["type"] == "US_SSN")["explain"]
    assert column["context"] == ["field:ssn"]
    text = json.dumps(rows_explained)
    assert "030123456" not in text and "jane.doe" not in text  # explanations never carry the value


def test_explain_flag_is_parsed() -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert parser.parse_args(["--jsonl", "a", "--out", "b", "--explain"]).explain is True
    assert parser.parse_args(["--jsonl", "a", "--out", "b"]).explain is False

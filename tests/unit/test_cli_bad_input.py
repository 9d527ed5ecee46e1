"""The CLI never prints a traceback on bad input: undecodable files, bad numbers, back ends that
are down - one line that says what to do, exit code 1 (2 for argument errors)."""
from __future__ import annotations

import pytest

from ufctl.cli import main


@pytest.mark.parametrize("args", [
    ["publish", "{bin}"],
    ["audit", "prove", "--check", "{bin}"],
    ["pii", "scan", "--jsonl", "{bin}", "--out", "{out}"],
    ["publish", "{half}"],
    ["audit", "prove", "--check", "{half}"],
    ["publish", "{missing}"],
])
def test_bad_files_give_one_line(args, tmp_path, capsys):
    (tmp_path / "bin").write_bytes(b"\x00\xff\xfe binary")
    (tmp_path / "half").write_text('{"session_id": ')
    paths = {"bin": tmp_path / "bin", "half": tmp_path / "half", "missing": tmp_path / "none", "out": tmp_path / "o"}
    assert main([a.format(**paths) for a in args]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("ufctl")


@pytest.mark.parametrize("args", [["status", "x", "--wait", "soon"], ["token", "issue", "--user", "u", "--ttl-minutes", "x"]])
def test_bad_numbers_are_argument_errors(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2 and "invalid float value" in capsys.readouterr().err


def test_a_back_end_that_is_down_is_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("UF_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("UF_REDIS_URL", "redis://127.0.0.1:1/0")
    (tmp_path / "pw").write_text("x")
    monkeypatch.setenv("UF_REDIS_PASSWORD_FILE", str(tmp_path / "pw"))
    assert main(["status", "wf-x"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach Redis" in err and "Traceback" not in err


def test_missing_credentials_are_one_line_naming_the_file(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("UF_REDIS_PASSWORD_FILE", str(tmp_path / "absent"))
    assert main(["status", "wf-x"]) == 1
    err = capsys.readouterr().err
    assert "Redis password" in err and str(tmp_path / "absent") in err and err.count("\n") == 1

"""`launcher forget`: a stack started from empty data starts with one blue instance of each
service - nothing remembered from an earlier run - and it never pulls state from under a
running instance."""
from __future__ import annotations

import os

from services import launcher


def _earlier_run(var) -> None:
    (var / "run" / "colours").mkdir(parents=True)
    (var / "run" / "colours" / "orchestrator").write_text("green\n")
    (var / "run" / "role").mkdir()
    (var / "run" / "role" / "orchestrator-green.labels").write_text('role="active"\n')
    (var / "run" / "replicas.json").write_text('{"orchestrator": 2}')


def test_forget_drops_replicas_colours_and_roles(tmp_path, monkeypatch):
    monkeypatch.setattr(launcher, "VAR", tmp_path)
    _earlier_run(tmp_path)
    assert launcher.replicas() == {"orchestrator": 2} and launcher.live_colour("orchestrator") == "green"
    assert launcher.forget() == 0
    assert launcher.replicas() == {} and launcher.live_colour("orchestrator") == "blue"
    assert not (tmp_path / "run" / "role").exists()


def test_forget_refuses_while_an_instance_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(launcher, "VAR", tmp_path)
    _earlier_run(tmp_path)
    (tmp_path / "run" / "svc-orchestrator@1.pid").write_text(str(os.getpid()))  # a live process
    assert launcher.forget() == 1
    assert launcher.replicas() == {"orchestrator": 2} and launcher.live_colour("orchestrator") == "green"

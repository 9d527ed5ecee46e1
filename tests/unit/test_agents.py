"""The built-in campaign agents are deterministic and explainable."""
from __future__ import annotations

import pytest

from services.orchestrator.agents.base import AgentError
from services.orchestrator.agents.discovery import DiscoveryAgent
from services.orchestrator.agents.generation import GenerationAgent, render
from services.orchestrator.agents.registry import agent_for_phase
from services.orchestrator.agents.strategy import choose_template

CONTACTS = [
    {"subject_id": "a", "email": "A@Example.com", "name": "A", "opted_in": True},
    {"subject_id": "b", "email": "a@example.com", "name": "B", "opted_in": True},
    {"subject_id": "c", "email": "not-an-address", "name": "C", "opted_in": True},
    {"subject_id": "d", "email": "d@example.com", "name": "D", "opted_in": False},
]


def test_discovery_keeps_opted_in_valid_unique_addresses():
    out = DiscoveryAgent().run({"contacts": CONTACTS})
    assert [r["subject_id"] for r in out["recipients"]] == ["a"]
    assert out["excluded"] == {"not_opted_in": 1, "invalid_address": 1, "duplicate": 1}


def test_strategy_rules_first_match_wins():
    assert choose_template("promotion", "vip", "de") == "promotion_vip"
    assert choose_template("promotion", "standard", "de") == "promotion_de"
    assert choose_template("announce", "standard", "fr") == "announce"
    with pytest.raises(AgentError):
        choose_template("unknown", "standard", "en")


def test_generation_is_deterministic_and_strict():
    task = {"workflow_id": "wf", "campaign": {"name": "C", "sender": "s@x.io", "subject": "S", "variables": {}},
            "recipients": [{"subject_id": "a", "email": "a@x.io", "name": "Ann"}],
            "assignments": [{"subject_id": "a", "template": "announce"}]}
    first, second = GenerationAgent().run(task), GenerationAgent().run(task)
    assert first == second
    assert "Hello Ann" in first["emails"][0]["body"]
    with pytest.raises(AgentError):
        render("does-not-exist", {})


def test_sandbox_blocks_template_escape(tmp_path, monkeypatch):
    from jinja2 import FileSystemLoader

    from services.orchestrator.agents import generation

    (tmp_path / "evil.txt.j2").write_text("{{ name.__class__.__mro__[1].__subclasses__() }}")
    monkeypatch.setattr(generation._env, "loader", FileSystemLoader(tmp_path))
    with pytest.raises(Exception):  # noqa: B017 - any refusal by the sandbox is the pass condition
        generation.render("evil", {"name": "x"})


def test_registry_selects_by_phase_and_env(monkeypatch):
    assert agent_for_phase("GENERATION").name == "builtin.generation"
    monkeypatch.setenv("UF_AGENT_GENERATION", "acme.missing")
    with pytest.raises(LookupError):
        agent_for_phase("GENERATION")
    monkeypatch.setenv("UF_AGENT_GENERATION", "builtin.discovery")
    with pytest.raises(LookupError):
        agent_for_phase("GENERATION")

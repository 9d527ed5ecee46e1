"""Which agent runs which phase. Built-ins by default; any agent published under the
`universal_framework.agents` entry-point group can replace one, chosen by name with
UF_AGENT_<PHASE>=<name> (e.g. UF_AGENT_GENERATION=acme.llm_writer)."""
from __future__ import annotations

import os
from importlib.metadata import entry_points

from services.orchestrator.agents.base import Agent
from services.orchestrator.agents.discovery import DiscoveryAgent
from services.orchestrator.agents.generation import GenerationAgent
from services.orchestrator.agents.strategy import StrategyAgent

ENTRY_POINT_GROUP = "universal_framework.agents"
BUILTINS: dict[str, Agent] = {a.name: a for a in (DiscoveryAgent(), StrategyAgent(), GenerationAgent())}
DEFAULTS = {a.phase: a.name for a in BUILTINS.values()}


def available_agents() -> dict[str, Agent]:
    agents: dict[str, Agent] = dict(BUILTINS)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        agents[ep.name] = obj() if isinstance(obj, type) else obj
    return agents


def agent_for_phase(phase: str, agents: dict[str, Agent] | None = None) -> Agent:
    agents = agents if agents is not None else available_agents()
    name = os.environ.get(f"UF_AGENT_{phase}", DEFAULTS.get(phase, ""))
    if name not in agents:
        raise LookupError(f"no agent named {name!r} for phase {phase} (known: {sorted(agents)})")
    agent = agents[name]
    if agent.phase != phase:
        raise LookupError(f"agent {name!r} runs phase {agent.phase}, not {phase}")
    return agent

"""Which agent runs which phase. Built-ins by default; any agent published under the
`universal_framework.agents` entry-point group can replace one, chosen by name in the
orchestrator's settings (`UF_AGENT_<PHASE>=<name>`, e.g. UF_AGENT_GENERATION=acme.llm_writer)."""
from __future__ import annotations

from typing import Any

from services.kit.contracts.phases import AGENT_PHASES, Phase
from services.kit.runtime.plugins import Registry, RegistryError
from services.orchestrator.agents.base import Agent
from services.orchestrator.agents.discovery import DiscoveryAgent
from services.orchestrator.agents.generation import GenerationAgent
from services.orchestrator.agents.strategy import StrategyAgent
from services.orchestrator.config import OrchestratorSettings

ENTRY_POINT_GROUP = "universal_framework.agents"


def _instance(obj: Any) -> Agent:
    """An entry point may name an agent class or a ready instance."""
    agent: Agent = obj() if isinstance(obj, type) else obj
    return agent


AGENTS: Registry[Agent] = Registry("agent", ENTRY_POINT_GROUP, instantiate=_instance)
for _builtin in (DiscoveryAgent(), StrategyAgent(), GenerationAgent()):
    AGENTS.register(_builtin.name, _builtin)


def selection(settings: OrchestratorSettings) -> dict[Phase, str]:
    """The agent name chosen for each agent phase (the orchestrator resolves it once at start)."""
    return {Phase.BATCH_DISCOVERY: settings.agent_batch_discovery,
            Phase.STRATEGY_ANALYSIS: settings.agent_strategy_analysis,
            Phase.GENERATION: settings.agent_generation}


def agent_for_phase(phase: Phase | str, chosen: dict[Phase, str] | None = None) -> Agent:
    phase = Phase(phase)
    if phase not in AGENT_PHASES:
        raise LookupError(f"no agent runs phase {phase.value}")
    name = (chosen if chosen is not None else selection(OrchestratorSettings()))[phase]
    try:
        agent = AGENTS.get(name)
    except RegistryError as exc:
        raise LookupError(f"{exc} for phase {phase.value}") from None
    if agent.phase != phase.value:
        raise LookupError(f"agent {name!r} runs phase {agent.phase}, not {phase.value}")
    return agent

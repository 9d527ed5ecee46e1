"""Orchestrator settings (UF_* environment variables)."""
from __future__ import annotations

from services.kit.runtime import service_table as table
from services.kit.runtime.config import ServiceSettings


class OrchestratorSettings(ServiceSettings):
    service_name: str = "orchestrator"
    http_port: int = table.SERVICES["orchestrator"].http_port
    validator_addr: str = table.grpc_addr("validator")
    validator_timeout_s: float = 3.0  # above the validator's own decision deadline
    validator_attempts: int = 1  # further attempts come from the durable timer of a parked workflow
    validator_concurrency: int = 32  # decisions in flight per instance (the client's pool)
    validator_channels: int = 2  # gRPC connections (spread over validator instances behind one address)
    max_in_flight: int = 500  # admission control: unfinished workflows per instance before new requests wait
    park_budget_s: float = 600.0  # retry budget when the policy's is not known (validator unreachable)
    circuit_threshold: int = 5  # consecutive unavailable decisions before the circuit opens
    circuit_cooldown_s: float = 10.0
    consumer_group: str = "uf-orchestrator"
    agents_group: str = "uf-agents"
    # Agent plug-in per work phase (built-ins by default; see README "Plugging an agent").
    agent_batch_discovery: str = "builtin.discovery"
    agent_strategy_analysis: str = "builtin.strategy"
    agent_generation: str = "builtin.generation"

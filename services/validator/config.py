"""Validator settings (UF_* environment variables)."""
from __future__ import annotations

from services.kit.runtime import paths
from services.kit.runtime import service_table as table
from services.kit.runtime.config import ServiceSettings

POLICIES = paths.POLICIES


class ValidatorSettings(ServiceSettings):
    service_name: str = "validator"
    http_port: int = table.SERVICES["validator"].http_port
    grpc_host: str = "127.0.0.1"
    grpc_port: int = table.SERVICES["validator"].grpc_port or 0
    pii_addr: str = table.grpc_addr("pii")
    pii_timeout_s: float = 2.0
    policy_dir: str = str(POLICIES)
    policy_default: str = ""  # version in force until a PolicyActivated says otherwise; "" = newest
    decision_deadline_s: float = 2.5  # the whole decision, look-ups included; over it = deny
    max_concurrent_decisions: int = 64  # admission control: more wait up to admission_wait_s, then RESOURCE_EXHAUSTED
    admission_wait_s: float = 0.5
    redis_max_connections: int = 64  # pool size; a request waits for a free connection instead of failing
    barrier_timeout_s: float = 1.0  # how long to wait for projections before denying on a miss

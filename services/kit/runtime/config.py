"""Typed settings from environment variables. One settings class per service subclasses
`ServiceSettings`; the variable names (UF_*) are the same in infra/local.env,
docker-compose.yml and k8s/."""
from __future__ import annotations

from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

from services import __version__
from services.kit.runtime import service_table as table


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="UF_", extra="ignore")

    service_name: str = "unknown"
    version: str = __version__
    colour: str = "blue"
    kafka_bootstrap: str = table.KAFKA_BOOTSTRAP
    redis_url: str = table.REDIS_URL
    es_url: str = table.ES_URL
    http_host: str = "127.0.0.1"
    http_port: int = 18080
    log_level: str = "INFO"
    topics_file: str = ""  # default: infra/topics.yaml next to the code
    # Resource limits the memory/CPU triggers compare against (Kubernetes: Downward API
    # resourceFieldRef limits.memory (divisor 1) / limits.cpu (divisor 1m)).
    memory_limit_bytes: int = 1024 * 1024 * 1024
    cpu_limit_millicores: int = 1000
    # Traces: "none", "otlp" (OTLP/HTTP to otlp_endpoint) or "file" (JSON lines to trace_file).
    trace_exporter: Literal["none", "otlp", "file"] = "none"
    otlp_endpoint: str = "http://127.0.0.1:4318/v1/traces"
    trace_file: str = ""
    # Rollout role (services/kit/runtime/role.py): a labels file with role="active"|"preview";
    # "" = no file, always active. Kubernetes: the Downward API labels file.
    role_file: str = ""
    # gRPC services run locally as two colours (services/kit/runtime/grpc_roles.py): the colour's
    # own address; 0 = serve only the production address (Kubernetes: the Services switch).
    grpc_preview_port: int = 0
    # Test-only fault injection (services/kit/runtime/faults.py): both must be set.
    test_faults: bool = False
    test_fault: str = ""

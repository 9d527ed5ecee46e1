"""Typed settings from environment variables. One settings class per service subclasses
`ServiceSettings`; the variable names (UF_*) are the same in infra/local.env,
docker-compose.yml and k8s/."""
from __future__ import annotations

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

"""Typed settings from environment variables. One settings class per service subclasses
`ServiceSettings`; the variable names (UF_*) are the same in infra/local.env,
docker-compose.yml and k8s/."""
from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from services import __version__


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="UF_", extra="ignore")

    service_name: str = "unknown"
    version: str = __version__
    colour: str = "blue"
    kafka_bootstrap: str = "127.0.0.1:19092"
    redis_url: str = "redis://127.0.0.1:16379/0"
    es_url: str = "http://127.0.0.1:19200"
    http_host: str = "127.0.0.1"
    http_port: int = 18080
    log_level: str = "INFO"
    topics_file: str = ""  # default: infra/topics.yaml next to the code

"""PII service settings (UF_* environment variables)."""
from __future__ import annotations

from services.kit.runtime import service_table as table
from services.kit.runtime.config import ServiceSettings


class PiiSettings(ServiceSettings):
    service_name: str = "pii"
    http_port: int = table.SERVICES["pii"].http_port
    grpc_host: str = "127.0.0.1"
    grpc_port: int = table.SERVICES["pii"].grpc_port or 0
    nlp: bool = True  # PERSON/LOCATION via spaCy; off = structured types only
    custom_patterns: str = ""  # path to an enterprise patterns YAML file
    max_texts_per_call: int = 256
    max_chars_per_text: int = 100_000
    consumer_group: str = "uf-pii"

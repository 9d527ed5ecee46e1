"""Audit settings (UF_* environment variables)."""
from __future__ import annotations

from services.kit.config import ServiceSettings


class AuditSettings(ServiceSettings):
    service_name: str = "audit"
    http_port: int = 18084
    es_index: str = "uf-audit-events"
    consumer_group: str = "uf-audit"

"""Delivery settings (UF_* environment variables)."""
from __future__ import annotations

from services.kit.runtime import service_table as table
from services.kit.runtime.config import ServiceSettings


class DeliverySettings(ServiceSettings):
    service_name: str = "delivery"
    http_port: int = table.SERVICES["delivery"].http_port
    smtp_host: str = "127.0.0.1"
    smtp_port: int = table.SMTP_PORT
    smtp_timeout_s: float = 10.0
    smtp_attempts: int = 4
    claim_ttl_s: int = 120  # a send that crashed mid-way may be retried after this
    consumer_group: str = "uf-delivery"

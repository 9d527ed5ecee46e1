"""Delivery settings (UF_* environment variables)."""
from __future__ import annotations

from services.kit.runtime import service_table as table
from services.kit.runtime.config import ServiceSettings


class DeliverySettings(ServiceSettings):
    service_name: str = "delivery"
    http_port: int = table.SERVICES["delivery"].http_port
    smtp_host: str = "127.0.0.1"
    smtp_port: int = table.SMTP_PORT
    # RFC 5321 §4.5.3.2 timeouts (minutes, not seconds)
    smtp_command_timeout_s: float = 300.0
    smtp_data_init_timeout_s: float = 120.0
    smtp_data_block_timeout_s: float = 180.0
    smtp_final_timeout_s: float = 600.0
    # Temporary failures (4xx, refused): retried with backoff growing to this cap, like an MTA ...
    smtp_retry_cap_s: float = 300.0
    # ... and failed with the reason once the request is this old.
    smtp_give_up_s: float = 4 * 3600.0
    liveness_ttl_s: int = 15  # a crashed sender's claims are resolved this long after it stopped
    consumer_group: str = "uf-delivery"

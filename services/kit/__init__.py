"""Shared kit: what every service needs (codec, config, logging, telemetry, Kafka I/O, ops server)."""

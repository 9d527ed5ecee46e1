"""The library version stamped on scan results (gRPC ``engine_version``, Kafka ``PiiScanCompleted``).

Why its own module: the engine, the CLI and the package metadata all need it without importing
each other; keep it equal to ``version`` in ``libs/uf-pii/pyproject.toml``.
"""

__version__ = "0.3.0"

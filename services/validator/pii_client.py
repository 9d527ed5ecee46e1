"""The validator's synchronous line to the PII service. Errors propagate: the rule that asked
fails, and a failing rule denies."""
from __future__ import annotations

from services.kit.rpc import pii_pb2, pii_pb2_grpc
from services.kit.runtime.grpc_telemetry import ClientTracing
from services.kit.security import tls


class PiiClient:
    def __init__(self, address: str, timeout_s: float, identity: str = "validator") -> None:
        self.timeout_s = timeout_s
        self._channel = tls.secure_channel(address, identity, options=[  # mutual TLS as `identity`
            ("grpc.initial_reconnect_backoff_ms", 100), ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000)], interceptors=[ClientTracing()])
        self._stub = pii_pb2_grpc.PiiScannerStub(self._channel)

    async def scan(self, texts: list[str]) -> tuple[list[list[pii_pb2.Finding]], str]:
        resp = await self._stub.Scan(pii_pb2.ScanRequest(texts=texts), timeout=self.timeout_s, wait_for_ready=True)
        return [list(r.findings) for r in resp.results], resp.classification

    async def close(self) -> None:
        await self._channel.close()

"""gRPC `Scan`: synchronous PII checks for the validator and other callers. Answers carry types
and offsets only; metrics count findings by type, never values."""
from __future__ import annotations

import logging

import grpc

from services.kit.rpc import pii_pb2, pii_pb2_grpc
from services.kit.runtime import telemetry
from services.pii.batcher import BatchingScanner
from uf_pii import Engine

log = logging.getLogger(__name__)


class PiiServicer(pii_pb2_grpc.PiiScannerServicer):
    def __init__(self, engine: Engine, scanner: BatchingScanner, *, max_texts: int, max_chars: int) -> None:
        self.engine, self.scanner, self.max_texts, self.max_chars = engine, scanner, max_texts, max_chars

    async def Scan(self, request: pii_pb2.ScanRequest, context: grpc.aio.ServicerContext) -> pii_pb2.ScanResponse:
        texts = list(request.texts)
        if len(texts) > self.max_texts or any(len(t) > self.max_chars for t in texts):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"at most {self.max_texts} texts of at most {self.max_chars} characters per call")
        wanted = set(request.types)
        unknown = wanted - self.engine.known_types()
        if unknown:
            log.warning("unknown entity types requested; they never match", extra={"types": ", ".join(sorted(unknown))})
        per_text = await self.scanner.scan(texts)
        results, every = [], []
        for findings in per_text:
            kept = [f for f in findings if not wanted or f.type in wanted]
            every += kept
            for f in kept:
                telemetry.PII_FINDINGS.labels("pii", f.type).inc()
            results.append(pii_pb2.TextFindings(findings=[
                pii_pb2.Finding(type=f.type, start=f.start, end=f.end, score=f.score, recognizer=f.recognizer,
                                recognizer_version=f.recognizer_version) for f in kept]))
        return pii_pb2.ScanResponse(results=results, classification=self.engine.classify(every).name,
                                    engine_version=self.engine.version)

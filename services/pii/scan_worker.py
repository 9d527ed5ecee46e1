"""The asynchronous side of the PII service: consume `PiiScanRequested`, emit `PiiScanCompleted`
with types, offsets, counts and classification - never the values. The result's event id is
derived from the request id, so a redelivered request yields the same result event."""
from __future__ import annotations

from collections import Counter

from aiokafka import AIOKafkaProducer, ConsumerRecord

from services.kit.contracts import topics
from services.kit.contracts.codec import Decoded
from services.kit.contracts.events import Origin, caused_by, make_event, stable_id
from services.kit.messaging.bus import SemanticError, publish
from services.kit.runtime import telemetry
from services.pii.batcher import BatchingScanner
from uf_pii import Engine


def make_scan_handler(engine: Engine, scanner: BatchingScanner, kafka: AIOKafkaProducer, origin: Origin,
                      max_texts: int, max_chars: int):
    async def scan_request(decoded: Decoded, _: ConsumerRecord) -> None:
        req = decoded.record
        texts, wanted = req["texts"], set(req["types"])
        if len(texts) > max_texts or any(len(t) > max_chars for t in texts):
            raise SemanticError("scan-too-large", f"at most {max_texts} texts of at most {max_chars} characters")
        per_text = await scanner.scan(texts)
        kept = [[f for f in findings if not wanted or f.type in wanted] for findings in per_text]
        counts = Counter(f.type for findings in kept for f in findings)
        for t, n in counts.items():
            telemetry.PII_FINDINGS.labels("pii", t).inc(n)
        await publish(kafka, topics.PII_SCAN_RESULTS, make_event(
            "PiiScanCompleted", origin=origin, **caused_by(req), event_id=stable_id(req["request_id"], "scan-result"),
            request_id=req["request_id"], counts=dict(counts),
            classification=engine.classify([f for findings in kept for f in findings]).name,
            engine_version=engine.version,
            results=[{"findings": [{"type": f.type, "start": f.start, "end": f.end, "score": f.score,
                                    "recognizer": f.recognizer, "recognizer_version": f.recognizer_version}
                                   for f in findings]} for findings in kept]))

    return scan_request

"""PII service: detection over gRPC (`Scan`)."""
from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from services.kit.contracts import topics
from services.kit.contracts.events import Origin
from services.kit.messaging.bus import ConsumeLoop, start_producer
from services.kit.rpc import pii_pb2_grpc
from services.kit.runtime import grpc_roles
from services.kit.runtime.app import run_service
from services.kit.runtime.ops import OpsServer
from services.pii.batcher import BatchingScanner
from services.pii.config import PiiSettings
from services.pii.scan_worker import make_scan_handler
from services.pii.servicer import PiiServicer
from uf_pii import Engine, default_registry

# Touches every lazily loaded part (spaCy model, gazetteer, phone metadata of all regions) at start,
# so the first real request does not pay for it.
WARM_UP = "warm-up for Dr. Jane Doe in Berlin, call 098765 43210, ssn,name\n078051120,Jane Doe\n"


def build_engine(settings: PiiSettings) -> Engine:
    """Enterprise patterns (UF_CUSTOM_PATTERNS) load here, so a bad pattern stops the service at
    start with a clear error - never at scan time."""
    return Engine(default_registry(custom_patterns=settings.custom_patterns or None), nlp=settings.nlp)


async def body(settings: PiiSettings, ops: OpsServer, stack: AsyncExitStack):
    engine = await asyncio.to_thread(build_engine, settings)
    await asyncio.to_thread(engine.scan_many, [WARM_UP])
    scanner = BatchingScanner(engine)
    stack.callback(scanner.close)
    servicer = PiiServicer(engine, scanner, max_texts=settings.max_texts_per_call, max_chars=settings.max_chars_per_text)

    grpc_server = await grpc_roles.serve(stack, lambda s: pii_pb2_grpc.add_PiiScannerServicer_to_server(servicer, s), service=settings.service_name,
                                         host=settings.grpc_host, port=settings.grpc_port, preview_port=settings.grpc_preview_port)

    kafka = await start_producer(settings.kafka_bootstrap)
    stack.push_async_callback(kafka.stop)
    worker = ConsumeLoop(service=settings.service_name, bootstrap=settings.kafka_bootstrap, group_id=settings.consumer_group,
                         topics=[topics.PII_SCAN_REQUESTS], producer=kafka,
                         handler=make_scan_handler(engine, scanner, kafka, Origin(settings.service_name, settings.version, settings.colour),
                                                   settings.max_texts_per_call, settings.max_chars_per_text))
    await worker.start()
    stack.push_async_callback(worker.stop)

    async def engine_ready() -> None:
        await scanner.scan(["ready?"])

    ops.add_check("engine", engine_ready)
    ops.add_check("kafka", worker.ready)
    return [grpc_server.run(), worker.run(), scanner.run()]


def main() -> None:
    run_service(PiiSettings(), body)


if __name__ == "__main__":
    main()

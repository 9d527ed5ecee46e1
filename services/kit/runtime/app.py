"""Service runner: logging, ops server, signal handling and orderly shutdown, so each
service's `main` only wires its own parts."""
from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import TypeVar

from services.kit.runtime import faults, role, telemetry, tracing
from services.kit.runtime.config import ServiceSettings
from services.kit.runtime.logs import configure_logging
from services.kit.runtime.ops import OpsServer
from services.kit.security.kafka_auth import configure_kafka_identity
from services.kit.security.signing import configure_signing

log = logging.getLogger(__name__)
S = TypeVar("S", bound=ServiceSettings)
# A service's wiring: given its settings, the ops server and an exit stack for cleanups, start its
# parts and return the long-running workers.
ServiceBody = Callable[[S, OpsServer, AsyncExitStack], Awaitable[list[Awaitable[None]]]]


async def _serve(settings: S, body: ServiceBody[S]) -> None:
    ops = OpsServer(settings.http_host, settings.http_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with AsyncExitStack() as stack:
        await ops.start()
        stack.push_async_callback(ops.stop)
        workers = [asyncio.ensure_future(w) for w in await body(settings, ops, stack)]
        workers += [asyncio.ensure_future(role.current().watch()), asyncio.ensure_future(faults.current().run())]
        ops.started = True
        log.info("service started", extra={"colour": settings.colour, "version": settings.version})
        stopper = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait([stopper, *workers], return_when=asyncio.FIRST_COMPLETED)
        for w in workers:
            if w in done and w.exception():
                log.error("worker died", exc_info=w.exception())
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        log.info("service stopping")
    if not stop.is_set():
        raise SystemExit(1)  # a worker died: let the supervisor restart us


def run_service(settings: S, body: ServiceBody[S]) -> None:
    configure_logging(settings.service_name, settings.log_level)
    configure_signing(settings.service_name)  # every record this service produces is signed
    configure_kafka_identity(settings.service_name)  # ... and goes over mutual TLS as User:<service>
    telemetry.configure(telemetry.Identity(settings.service_name, settings.colour, settings.version),
                        memory_limit_bytes=settings.memory_limit_bytes, cpu_limit_millicores=settings.cpu_limit_millicores)
    tracing.configure(service=settings.service_name, version=settings.version, colour=settings.colour,
                      exporter=settings.trace_exporter, otlp_endpoint=settings.otlp_endpoint, trace_file=settings.trace_file)
    role.configure(settings.role_file, settings.colour, settings.version)  # before any consumer starts: a preview instance never joins
    try:
        faults.configure(settings.test_fault, settings.test_faults, memory_limit_bytes=settings.memory_limit_bytes)
    except faults.FaultConfigError as exc:
        raise SystemExit(f"{settings.service_name}: {exc}") from None
    asyncio.run(_serve(settings, body))

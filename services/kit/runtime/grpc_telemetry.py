"""gRPC interceptors: RED metrics per method on the server, and trace context across the call
(client injects `traceparent` into the metadata, server continues the trace from it).

Interceptors rather than code in each servicer, so every method of every gRPC server is
measured the same way and a new method cannot be forgotten."""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode

from services.kit.runtime import faults, telemetry
from services.kit.runtime.tracing import active_span


def _short(method: str) -> str:
    """'/uf.v1.Validator/ValidateTransition' -> 'Validator/ValidateTransition' (a bounded label)."""
    service, _, name = method.rpartition("/")
    return f"{service.rpartition('.')[2]}/{name}"


class ServerTelemetry(grpc.aio.ServerInterceptor):
    """Rate, errors (status code) and duration per method; a SERVER span per call."""

    async def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = _short(handler_call_details.method)
        carrier = {k: v for k, v in (handler_call_details.invocation_metadata or ()) if isinstance(v, str)}
        inner = handler.unary_unary

        async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            code = "OK"
            with active_span(handler_call_details.method, context=propagate.extract(carrier),
                             kind=SpanKind.SERVER, attributes={"rpc.system": "grpc", "rpc.method": method}) as span:
                try:
                    try:
                        await faults.current().before_handle()  # test-only (UF_TEST_FAULTS=1); nothing otherwise
                    except faults.InjectedFault:
                        code = "UNAVAILABLE"  # what a crashing server looks like to a caller: retried
                        await context.abort(grpc.StatusCode.UNAVAILABLE, "injected fault")
                    return await inner(request, context)
                except BaseException:
                    code = "UNKNOWN"
                    raise
                finally:
                    set_code = context.code()
                    if set_code is not None and set_code != grpc.StatusCode.OK:
                        code = set_code.name if isinstance(set_code, grpc.StatusCode) else str(set_code)
                    if code != "OK":
                        span.set_status(Status(StatusCode.ERROR, code))
                    telemetry.GRPC_REQUESTS.labels(method, code).inc()
                    telemetry.GRPC_SECONDS.labels(method).observe(time.perf_counter() - started)

        return grpc.unary_unary_rpc_method_handler(behaviour, request_deserializer=handler.request_deserializer,
                                                   response_serializer=handler.response_serializer)


class ClientTracing(grpc.aio.UnaryUnaryClientInterceptor):
    """A CLIENT span per call, its context sent in the call's metadata."""

    async def intercept_unary_unary(self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails, request: Any) -> Any:
        with active_span(client_call_details.method.decode() if isinstance(client_call_details.method, bytes)
                         else client_call_details.method, kind=SpanKind.CLIENT, attributes={"rpc.system": "grpc"}):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            metadata = grpc.aio.Metadata(*(client_call_details.metadata or ()))
            for key, value in carrier.items():
                metadata.add(key, value)
            call = await continuation(client_call_details._replace(metadata=metadata), request)
            await call  # the span covers the whole round trip
            return call

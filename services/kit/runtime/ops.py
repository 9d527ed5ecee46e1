"""The operability endpoints every service serves: /health (liveness), /ready (its
dependencies answer), /metrics (Prometheus)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from services.kit.runtime import role, telemetry

ReadinessCheck = Callable[[], Awaitable[None]]  # raises when not ready
log = logging.getLogger(__name__)


class NotReady(Exception):
    """A readiness failure whose message is shown in /ready (it must carry no PII: codes and
    counts only), e.g. "2 partition(s) waiting for redis"."""


def redis_check(redis: Any) -> ReadinessCheck:
    """Readiness of a Redis dependency: it answers PING."""

    async def check() -> None:
        await redis.ping()

    return check


class OpsServer:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.checks: dict[str, ReadinessCheck] = {}
        self.started = False  # set once the service has wired all its parts and checks
        self._runner: web.AppRunner | None = None

    def add_check(self, name: str, check: ReadinessCheck) -> None:
        self.checks[name] = check

    async def _health(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _ready(self, _: web.Request) -> web.Response:
        results: dict[str, str] = {"started": "ok" if self.started else "fail: still starting"}
        for name, check in self.checks.items():
            try:
                await asyncio.wait_for(check(), timeout=2.0)
                results[name] = "ok"
            except NotReady as exc:
                results[name] = f"fail: {exc}"
            except Exception as exc:  # any failure means not ready
                results[name] = f"fail: {exc.__class__.__name__}"
        ok = all(v == "ok" for v in results.values())
        return web.json_response({"ready": ok, "checks": results}, status=200 if ok else 503)

    async def _role(self, _: web.Request) -> web.Response:
        """The rollout role and whether every gated consumer has acted on it (see role.py)."""
        return web.json_response(role.current().snapshot())

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(body=telemetry.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/ready", self._ready)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/role", self._role)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        log.info("ops server listening", extra={"port": self.port})

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

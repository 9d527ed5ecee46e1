"""Blue-green for a gRPC service on one machine: the production address follows the role.

Locally there is no Service object to re-point (Kubernetes: Argo Rollouts switches the active
Service's selector, and every pod serves its one port - `preview_port` is 0 there, and this
class only serves the production address). With `preview_port` set (the launcher does):

- every instance always serves its colour's own address (`preview_port`), where a rollout can
  smoke-test or analyse the preview colour without production traffic reaching it;
- an `active` instance also serves the production address. Instances of both colours bind it
  with SO_REUSEPORT (gRPC's default on Linux, as replicas already do), so for a moment both
  colours accept new connections - make-before-break, no caller ever finds the port closed;
- a demoted instance keeps the production listener until the new colour listens on the address
  too (it is promoted right after this one releases its Kafka groups; seen here as a listening
  socket on the port that was not there at the demotion), at most `linger_s`, then stops it with
  a grace period: in-flight calls finish, callers get GOAWAY and reconnect - to the new colour,
  the only one left listening. Without that prompt stop the callers' open connections would stay
  on the demoted colour for the whole linger (the kernel spreads only new connections), so the
  promoted colour would see no call for that long.

The gRPC member reports `released` as soon as it is demoted - a listener holds no partition, so
the hand-over of the service's Kafka consumers need not wait for the linger."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path

import grpc

from services.kit.runtime import role
from services.kit.runtime.grpc_telemetry import ServerTelemetry
from services.kit.security import tls

log = logging.getLogger(__name__)
MEMBER = "grpc"
_TCP_TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's `st` column


def listening_sockets(port: int, tables: tuple[Path, ...] = _TCP_TABLES) -> set[str] | None:
    """Inodes of the sockets listening on `port` (any address) on this host - with SO_REUSEPORT
    every instance's listener is its own line. None where /proc does not tell (not Linux)."""
    found: set[str] = set()
    readable = False
    for table in tables:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == _LISTEN and int(cols[1].rpartition(":")[2], 16) == port:
                found.add(cols[9])
    return found if readable else None


class RoleGatedGrpc:
    def __init__(self, build: Callable[[], grpc.aio.Server], *, host: str, port: int, preview_port: int,
                 credentials: grpc.ServerCredentials, linger_s: float = 10.0, grace_s: float = 2.0) -> None:
        """`build` returns a new server with the servicers and interceptors attached (a stopped
        grpc.aio server cannot start again)."""
        self.build, self.host, self.port, self.preview_port = build, host, port, preview_port
        self.credentials, self.linger_s, self.grace_s = credentials, linger_s, grace_s
        self.colour_server: grpc.aio.Server | None = None
        self.production: grpc.aio.Server | None = None

    @property
    def gated(self) -> bool:
        return self.preview_port > 0

    async def _serve(self, port: int) -> grpc.aio.Server:
        server = self.build()
        server.add_secure_port(f"{self.host}:{port}", self.credentials)
        await server.start()
        return server

    async def start(self) -> None:
        if not self.gated:
            self.production = await self._serve(self.port)
            return
        self.colour_server = await self._serve(self.preview_port)
        if role.current().active:
            self.production = await self._serve(self.port)
        role.current().report(MEMBER, role.CONSUMING if self.production else role.RELEASED)

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop(self.grace_s) for s in (self.production, self.colour_server) if s is not None))
        self.production = self.colour_server = None

    async def run(self) -> None:
        """Follow the role: bind the production address when promoted, let it go when demoted."""
        state = role.current()
        if not self.gated:
            await asyncio.Event().wait()
        while True:
            await state.until_active()
            if self.production is None:
                self.production = await self._serve(self.port)
                log.info("serving the production address", extra={"port": self.port})
            state.report(MEMBER, role.CONSUMING)
            while state.active:
                await state.changed()
            state.report(MEMBER, role.RELEASED)
            await self._linger(state)

    async def _linger(self, state: role.RoleState) -> None:
        """Keep the address until the new colour listens on it too (or `linger_s` passed)."""
        loop = asyncio.get_running_loop()
        until = loop.time() + self.linger_s
        ours = listening_sockets(self.port)  # this colour's listeners (replicas' too) at the demotion
        while not state.active and loop.time() < until:
            now = listening_sockets(self.port)
            if ours is not None and now is not None and now - ours:
                log.info("the new colour listens on the production address", extra={"port": self.port})
                break
            await asyncio.sleep(0.05)
        if state.active or self.production is None:
            return  # promoted again within the linger (a rollback): keep serving
        server, self.production = self.production, None
        await server.stop(self.grace_s)
        log.info("production address released", extra={"port": self.port})


async def serve(stack: AsyncExitStack, register: Callable[[grpc.aio.Server], None], *, service: str, host: str,
                port: int, preview_port: int = 0) -> RoleGatedGrpc:
    """A service's gRPC server as every gRPC service of the suite runs it: mutual TLS as
    `service`, per-method caller allow-lists, telemetry, the production address following the
    rollout role; started now, stopped with the service's exit stack. `register` adds the
    servicer to each server instance (a role change builds a new one)."""
    def server() -> grpc.aio.Server:
        s = grpc.aio.server(interceptors=[ServerTelemetry(), tls.CallerAllowList()])
        register(s)
        return s

    gated = RoleGatedGrpc(server, host=host, port=port, preview_port=preview_port,
                          credentials=tls.server_credentials(service))
    await gated.start()
    stack.push_async_callback(gated.stop)
    return gated

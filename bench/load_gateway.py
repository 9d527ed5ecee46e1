"""Loopback HTTP gateway for the load generator: `POST /workflow` publishes one campaign
request to Kafka and answers when the workflow has finished - 200 COMPLETED, 409 REJECTED,
500 FAILED, 504 when it did not finish within `?timeout=` seconds - so Locust's response time
*is* publish->terminal latency and its UI, CSV and percentiles work unchanged.

Why a gateway: Locust runs on gevent (monkey-patched sockets), our Kafka client on asyncio.
Keeping Kafka in this separate asyncio process and giving Locust plain HTTP avoids mixing the
two event loops.

    .venv/bin/python bench/load_gateway.py [--port N] [--recipients 1]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from pathlib import Path

from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.e2e import request_doc, send_signed
from services.kit.contracts import codec, topics
from services.kit.messaging import logreader
from services.kit.messaging.bus import producer_config, publish
from services.kit.runtime import service_table
from services.kit.runtime.config import ServiceSettings
from services.kit.security import kafka_auth
from services.kit.security.subject_keys import RedisKeyStore
from ufctl import publishing

# this bench connects to Kafka as the CLI/publisher does (mutual TLS, services/kit/security/kafka_auth.py)
kafka_auth.configure_kafka_identity(os.environ.get("UF_KAFKA_PRINCIPAL") or "ufctl")

TERMINAL_STATUS = {"COMPLETED": 200, "REJECTED": 409, "FAILED": 500, "CANCELLED": 410}


class Gateway:
    def __init__(self, bootstrap: str, recipients: int) -> None:
        self.bootstrap, self.recipients = bootstrap, recipients
        self.tag = uuid.uuid4().hex[:6]
        self.count = 0
        self.waiting: dict[str, asyncio.Future[str]] = {}
        # requests are sealed here, as `ufctl publish` does: the CLI's Redis user creates the
        # subject keys, the services' users may only read them
        self.keys = RedisKeyStore(ServiceSettings().redis_url)
        self.producer = AIOKafkaProducer(**producer_config(bootstrap))
        self.watcher = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False,
                                       **kafka_auth.client_args())

    async def start(self) -> None:
        publishing.configure_publisher()  # sign as the registered publisher, like ufctl
        await self.producer.start()
        await self.watcher.start()
        tps = await logreader.partitions_of(self.watcher, [topics.WORKFLOW_EVENTS])
        self.watcher.assign(tps)
        await self.watcher.seek_to_end(*tps)
        await publish(self.producer, topics.SESSIONS, publishing.session_event(f"bench-{self.tag}", f"sess-bench-{self.tag}", 24.0))

    async def watch(self) -> None:
        while True:
            for msgs in (await self.watcher.getmany(timeout_ms=200)).values():
                for m in msgs:
                    fut = self.waiting.get(m.key.decode()) if m.key else None
                    if fut is None or fut.done():
                        continue
                    d = codec.decode(m.value)
                    if d.event_type == "WorkflowPhaseChanged" and d.record["to_phase"] in TERMINAL_STATUS:
                        fut.set_result(d.record["to_phase"])

    async def workflow(self, request: web.Request) -> web.Response:
        timeout = float(request.query.get("timeout", "600"))
        i, self.count = self.count, self.count + 1
        doc = request_doc(self.tag, i, self.recipients)
        wf = doc["workflow_id"]
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.waiting[wf] = fut
        try:
            for c in doc["contacts"]:
                await send_signed(self.producer, topics.CONSENT, publishing.consent_event(c["subject_id"], "marketing", True),
                                  c["subject_id"].encode())
            await send_signed(self.producer, topics.REQUESTS, publishing.request_event(doc, self.keys), wf.encode())
            await self.producer.flush()
            phase = await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            return web.Response(status=504, text=f"{wf} not finished within {timeout:.0f}s")
        finally:
            self.waiting.pop(wf, None)
        return web.Response(status=TERMINAL_STATUS[phase], text=f"{wf} {phase}")


async def serve(port: int, recipients: int) -> None:
    gw = Gateway(ServiceSettings().kafka_bootstrap, recipients)
    await gw.start()
    app = web.Application()
    app.router.add_post("/workflow", gw.workflow)
    app.router.add_get("/health", lambda _: web.Response(text="ok"))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"load gateway on http://127.0.0.1:{port} (tag {gw.tag})", flush=True)
    await gw.watch()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=service_table.LOADGEN_PORT)
    parser.add_argument("--recipients", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.recipients))


if __name__ == "__main__":
    main()

"""Smoke tests of the local infrastructure (infra/stack.py) over real sockets.

The session fixture runs `python3 infra/stack.py up` (a no-op when everything is already up and ready).
Components that were NOT running before the session are stopped again at the end, so a developer's
running stack is left alone while CI cleans up after itself; set UF_STACK_KEEP=1 to keep them running.

Connection settings come from the same variables the services use (defaults: infra/local.env).
Deselect with `-m "not integration"`.
"""
from __future__ import annotations

import asyncio
import json
import os
import smtplib
import subprocess
import sys
import uuid
from email.message import EmailMessage
from pathlib import Path

import pytest

from services.kit.runtime import service_table as table
from services.kit.runtime.paths import ROOT
from services.kit.security import kafka_auth, redis_auth, search_auth
from tests.integration.waiting import eventually, eventually_async

STACK = ROOT / "infra" / "stack.py"
VAR = Path(os.environ.get("UF_VAR_DIR") or ROOT / "var")

KAFKA_BOOTSTRAP = os.environ.get("UF_KAFKA_BOOTSTRAP", table.KAFKA_BOOTSTRAP)
ES_URL = os.environ.get("UF_ES_URL", table.ES_URL)
REDIS_URL = os.environ.get("UF_REDIS_URL", table.REDIS_URL)
SMTP_HOST = os.environ.get("UF_SMTP_HOST", "127.0.0.1")
SMTP_PORT = int(os.environ.get("UF_SMTP_PORT") or table.SMTP_PORT)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _stack(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(STACK), *args],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=600,
    )


def _checked(*args: str) -> subprocess.CompletedProcess:
    proc = _stack(*args)
    if proc.returncode != 0:
        pytest.fail(f"`infra/stack.py {' '.join(args)}` failed ({proc.returncode}):\n{proc.stdout}", pytrace=False)
    return proc


@pytest.fixture(scope="session")
def local_stack():
    status = _stack("status", "--json")
    try:
        before = {row["component"]: row["ready"] for row in json.loads(status.stdout)}
    except ValueError:
        before = {}
    _checked("up")
    yield
    started_here = [c for c, ready in before.items() if not ready]
    if started_here and os.environ.get("UF_STACK_KEEP") != "1":
        _stack("down", *started_here)


def test_kafka_create_topic_produce_consume(local_stack):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    topic = f"it-local-stack-{uuid.uuid4().hex[:10]}"
    payload = f"hello-{uuid.uuid4().hex}".encode()

    async def scenario() -> list:
        admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA_BOOTSTRAP, **kafka_auth.client_args(kafka_auth.ADMIN))
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
            producer = AIOKafkaProducer(bootstrap_servers=KAFKA_BOOTSTRAP, acks="all", **kafka_auth.client_args(kafka_auth.ADMIN))
            await producer.start()
            try:
                meta = await producer.send_and_wait(topic, payload, key=b"k1")
                assert meta.offset == 0
            finally:
                await producer.stop()

            consumer = AIOKafkaConsumer(
                topic, bootstrap_servers=KAFKA_BOOTSTRAP, group_id=f"{topic}-g",
                auto_offset_reset="earliest", enable_auto_commit=False, **kafka_auth.client_args(kafka_auth.ADMIN),
            )
            await consumer.start()
            try:
                async def fetched() -> list:
                    return [r for records in (await consumer.getmany(timeout_ms=500)).values() for r in records]

                got = await eventually_async(fetched, timeout_s=60, what="the record back from Kafka")
                await consumer.commit()
            finally:
                await consumer.stop()
            return got
        finally:
            try:
                await admin.delete_topics([topic])
            finally:
                await admin.close()

    got = asyncio.run(scenario())
    assert [(r.key, r.value) for r in got] == [(b"k1", payload)]


def test_opensearch_index_and_search(local_stack):
    es = search_auth.client(ES_URL, "admin", request_timeout=30)
    index = f"it-local-stack-{uuid.uuid4().hex[:10]}"
    try:
        info = es.info()
        # the engine the pinned client (opensearch-py 2.x) is made for, same major (ADR 0007)
        assert info["version"]["distribution"] == "opensearch"
        assert info["version"]["number"].startswith("2.")
        es.indices.create(index=index, body={"mappings": {"properties": {"title": {"type": "text"}, "n": {"type": "integer"}}}})
        es.index(index=index, id="1", body={"title": "universal framework local stack", "n": 1}, refresh=True)
        es.index(index=index, id="2", body={"title": "something else entirely", "n": 2}, refresh=True)
        res = es.search(index=index, body={"query": {"match": {"title": "framework"}}})
        assert res["hits"]["total"]["value"] == 1
        assert res["hits"]["hits"][0]["_id"] == "1"
        health = es.cluster.health(index=index, wait_for_status="green", timeout="10s", request_timeout=30)
        assert health["status"] == "green"  # single node: the stack defaults replicas to 0
    finally:
        es.indices.delete(index=index, ignore_unavailable=True)
        es.close()


def test_redis_set_get_and_persistence(local_stack):
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5, **redis_auth.credentials("admin"))
    key = f"it:local-stack:{uuid.uuid4().hex}"
    try:
        assert client.ping()
        assert client.set(key, "value-1", ex=60)
        assert client.get(key) == b"value-1"
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("bind")["bind"] == "127.0.0.1"
    finally:
        client.delete(key)
        client.close()


def test_smtp_message_is_indexed(local_stack):
    token = uuid.uuid4().hex
    msg = EmailMessage()
    msg["From"] = "noreply@uf.test"
    msg["To"] = "someone@uf.test"
    msg["Subject"] = f"Local stack check {token} – ünïcode"
    msg["Message-ID"] = f"<{token}@uf.test>"
    msg.set_content(f"body {token}\n")

    with smtplib.SMTP(SMTP_HOST, SMTP_PORT, timeout=10) as smtp:
        code, _ = smtp.ehlo()
        assert code == 250
        refused = smtp.send_message(msg, to_addrs=["someone@uf.test", "other@uf.test"])
        assert refused == {}

    index = VAR / "smtp" / "index.jsonl"
    def indexed() -> dict | None:  # the sink fsyncs before its 250, so this normally succeeds at once
        rows = [json.loads(line) for line in index.read_text(encoding="utf-8").splitlines()] if index.exists() else []
        return next((row for row in rows if row["message_id"] == f"<{token}@uf.test>"), None)

    entry = eventually(indexed, timeout_s=30, what=f"message {token} in {index}")
    assert entry is not None, f"message {token} not found in {index}"
    assert entry["mail_from"] == "noreply@uf.test"
    assert entry["rcpt_tos"] == ["someone@uf.test", "other@uf.test"]
    assert entry["subject"] == f"Local stack check {token} – ünïcode"
    assert entry["received_at"]
    eml = Path(entry["file"])
    assert eml.is_file()
    assert f"body {token}".encode() in eml.read_bytes()

"""What integration tests do to the running suite, over real sockets."""
from __future__ import annotations

import asyncio
import copy
import email
import email.parser
import functools
import json
import subprocess
import sys
import uuid
from typing import Any

from aiokafka import AIOKafkaProducer

from services.kit.contracts import codec
from services.kit.messaging import logreader
from services.kit.runtime.config import ServiceSettings
from services.kit.runtime.paths import KEYS as KEYS_DIR
from services.kit.runtime.paths import ROOT
from services.kit.security import kafka_auth
from services.kit.security.signing import load_signer
from services.kit.security.subject_keys import RedisKeyStore
from tests.campaign_tags import unique_tag
from tests.integration.waiting import eventually
from ufctl import publishing, queries

SETTINGS = ServiceSettings()


@functools.cache
def _keys() -> RedisKeyStore:
    """The subject-key store, made on first use: at import (test collection) the stack, and with
    it the Redis ACL passwords `make up` writes, may not exist yet."""
    return RedisKeyStore(SETTINGS.redis_url)


def __getattr__(name: str) -> Any:  # PEP 562: `h.KEYS` stays the tests' spelling
    if name == "KEYS":
        return _keys()
    raise AttributeError(name)


EXAMPLE = json.loads((ROOT / "examples" / "campaign.json").read_text())
TERMINAL = {"COMPLETED", "FAILED", "REJECTED", "CANCELLED"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def campaign(*, auto_approve: bool = True, owner: str | None = None, requester: str | None = None,
             contacts: list[dict[str, Any]] | None = None, grant: bool = True) -> dict[str, Any]:
    """A fresh copy of the example with unique ids; opens its session and records consent."""
    doc = copy.deepcopy(EXAMPLE)
    tag = unique_tag()
    doc["workflow_id"] = f"wf-test-{tag}"
    doc["session_id"] = f"sess-{tag}"
    doc["requester_id"] = requester or f"user-{tag}"
    doc["auto_approve"] = auto_approve
    if contacts is not None:
        doc["contacts"] = contacts
    for c in doc["contacts"]:
        c["subject_id"] = f"{c['subject_id']}-{tag}"
        c["email"] = c["email"].replace("@", f"+{tag}@")
        c["name"] = f"{c['name']} {tag.upper()}"
    events = [publishing.session_event(owner or doc["requester_id"], doc["session_id"], 1.0)]
    if grant:
        events += [publishing.consent_event(c["subject_id"], doc["purpose"], True) for c in doc["contacts"]]
    send(*events)
    return doc


def send(*events: dict[str, Any]) -> None:
    asyncio.run(publishing.send_events(SETTINGS.kafka_bootstrap, [(publishing.TOPIC_OF[e["envelope"]["event_type"]], e) for e in events]))


def publish(doc: dict[str, Any]) -> str:
    event = publishing.request_event(doc, _keys())
    send(event)
    return event["envelope"]["workflow_id"]


def produce_raw(topic: str, value: bytes, key: bytes, signed_by: str | None = None) -> None:
    """Raw bytes onto a topic, unsigned or signed with the local key of `signed_by`."""
    headers = load_signer(signed_by, KEYS_DIR).headers(topic, key, value) if signed_by else []

    async def go() -> None:
        p = AIOKafkaProducer(bootstrap_servers=SETTINGS.kafka_bootstrap, **kafka_auth.client_args(kafka_auth.ADMIN))
        await p.start()
        try:
            await p.send_and_wait(topic, value, key=key, headers=headers)
        finally:
            await p.stop()

    asyncio.run(go())


def status(workflow_id: str) -> dict[str, Any] | None:
    try:
        return queries.workflow_status(SETTINGS.redis_url, workflow_id)
    except Exception:
        return None


def wait_phase(workflow_id: str, phases: set[str] | str = TERMINAL, timeout_s: float = 60) -> dict[str, Any]:
    wanted = {phases} if isinstance(phases, str) else phases
    seen: list[dict[str, Any] | None] = [None]

    def reached() -> dict[str, Any] | None:
        seen[0] = status(workflow_id)
        return seen[0] if seen[0] and seen[0]["phase"] in wanted else None

    try:
        return eventually(reached, timeout_s=timeout_s, interval_s=0.2, what=f"{workflow_id} in {sorted(wanted)}")
    except AssertionError:
        raise AssertionError(f"{workflow_id} did not reach {sorted(wanted)} in {timeout_s}s; last: {seen[0]}") from None


_SMTP_INDEX: dict[str, str] = {}  # .eml file name -> its workflow id (the sink writes each file once, atomically)


def smtp_messages(workflow_id: str) -> list[email.message.Message]:
    """The sink's messages of one workflow. Each file's headers are read once per test session:
    a long-lived stack holds thousands of messages, and re-parsing all of them for every
    workflow checked took a rollout test past its 600 s timeout at load ~18."""
    msgs = []
    for path in sorted((ROOT / "var" / "smtp" / "messages").glob("*.eml")):
        wf = _SMTP_INDEX.get(path.name)
        if wf is None:
            headers = email.parser.BytesHeaderParser().parsebytes(path.read_bytes())
            wf = _SMTP_INDEX[path.name] = str(headers.get("X-UF-Workflow-Id", ""))
        if wf == workflow_id:
            msgs.append(email.message_from_bytes(path.read_bytes()))
    return msgs


def read_topic(topic: str, *, since: dict[int, int] | None = None, timeout_s: float = 30.0) -> list[Any]:
    """Every record of `topic` (from `since` offsets if given) up to its end, read_committed.
    Raises when the end is not reached in time: a check over "every record" never sees a part."""

    async def go() -> list[Any]:
        c = logreader.new_consumer(SETTINGS.kafka_bootstrap, **kafka_auth.client_args(kafka_auth.ADMIN))
        await c.start()
        try:
            tps = await logreader.partitions_of(c, [topic])
            _, end = await logreader.bounds(c, tps)
            start = {tp: since[tp.partition] for tp in tps if since and tp.partition in since}
            out: list[Any] = []
            async for batch in logreader.read_batches(c, tps, end=end, start=start, timeout_s=timeout_s):
                for msgs in batch.values():
                    out.extend(msgs)
            return out
        finally:
            await c.stop()

    return asyncio.run(go())


def end_offsets(topic: str) -> dict[int, int]:
    async def go() -> dict[int, int]:
        c = logreader.new_consumer(SETTINGS.kafka_bootstrap, **kafka_auth.client_args(kafka_auth.ADMIN))
        await c.start()
        try:
            _, end = await logreader.bounds(c, await logreader.partitions_of(c, [topic]))
            return {tp.partition: off for tp, off in end.items()}
        finally:
            await c.stop()

    return asyncio.run(go())


def events_of(workflow_id: str, topic: str) -> list[dict[str, Any]]:
    out = []
    for m in read_topic(topic):
        if m.key == workflow_id.encode():
            out.append(codec.decode(m.value).record)
    return out


def launcher(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "services.launcher", *args], cwd=ROOT, check=True, capture_output=True)


def header(msg: Any, name: str) -> str:
    return dict(msg.headers).get(name, b"").decode()

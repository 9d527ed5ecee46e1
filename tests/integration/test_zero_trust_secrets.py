"""Nothing secret is kept: after a full run (request with a bearer token and personal data in
its free text, human review with the reviewer's token, delivery), every long-retention and
compacted topic, every Redis key, every OpenSearch index and every service log is read
whole, and none holds a token or a clear value of that run's personal data.

Not swept, by design: the short-retention inbox and working topics (the inbox still carries the
requester's token and an external publisher's clear PII, ADR 0002/0006), the dead-letter topic
(raw bytes, 14 days) and the SMTP sink (the delivered emails themselves)."""
from __future__ import annotations

import pytest
import redis as syncredis
from opensearchpy.helpers import scan

from services.audit.config import AuditSettings
from services.kit.contracts.topics import load_topics
from services.kit.runtime.paths import VAR
from services.kit.security import jwt_tokens as tokens
from services.kit.security import redis_auth, search_auth
from tests.integration import helpers as h
from tests.integration.waiting import eventually
from ufctl import publishing

pytestmark = pytest.mark.integration
S = AuditSettings()


def long_lived_topics() -> list[str]:
    out = []
    for name, spec in load_topics().items():
        compacted = "compact" in spec.config.get("cleanup.policy", "")
        if compacted or spec.config.get("retention.ms") == "-1":
            out.append(name)
    return sorted(out)


def redis_dump() -> bytes:
    r = syncredis.Redis.from_url(S.redis_url, **redis_auth.credentials("admin"))
    chunks: list[bytes] = []
    for key in r.scan_iter(count=1000):
        kind = r.type(key)
        chunks.append(key)
        if kind == b"string":
            chunks.append(r.get(key) or b"")
        elif kind == b"hash":
            chunks += [x for kv in r.hgetall(key).items() for x in kv]
        elif kind == b"set":
            chunks += list(r.smembers(key))
        elif kind == b"zset":
            chunks += [m for m, _ in r.zrange(key, 0, -1, withscores=True)]
        elif kind == b"list":
            chunks += r.lrange(key, 0, -1)
    return b"\n".join(chunks)


def es_dump() -> str:
    es = search_auth.client(S.es_url, "admin", request_timeout=60)
    es.indices.refresh(index="_all")
    return "\n".join(str(hit["_source"]) for hit in scan(es, index="_all", query={"query": {"match_all": {}}}, size=1000))


def test_no_token_and_no_clear_pii_of_a_full_run_is_kept(suite):
    doc = h.campaign(auto_approve=False)
    officer = f"officer.{doc['workflow_id'][-8:]}@agency.example"
    phone = "+44 20 7946 " + doc["workflow_id"][-4:].translate(str.maketrans("abcdef", "123456"))
    doc["campaign"]["variables"]["note"] = f"questions: {officer} or {phone}"
    doc["auth_token"] = requester_token = tokens.issue(doc["requester_id"])
    wf = h.publish(doc)
    h.wait_phase(wf, "REVIEW")
    reviewer_token = tokens.issue("bob", roles=["reviewer"])
    h.send(publishing.review_event(wf, doc["session_id"], True, "", "ok", token=reviewer_token))
    assert h.wait_phase(wf)["phase"] == "COMPLETED"
    eventually(lambda: len([e for e in h.events_of(wf, "uf.workflow.events")]) == 7, what="the whole run in the log")

    secrets = {"requester token": requester_token, "reviewer token": reviewer_token,
               "requester token signature": requester_token.rsplit(".", 1)[1],
               "reviewer token signature": reviewer_token.rsplit(".", 1)[1],
               "officer e-mail": officer, "phone number": phone}
    for c in doc["contacts"]:
        secrets[f"contact e-mail {c['subject_id']}"] = c["email"]
        secrets[f"contact name {c['subject_id']}"] = c["name"]

    def absent(where: str, data: bytes) -> None:
        found = [what for what, value in secrets.items() if value.encode() in data]
        assert not found, f"{where} holds {found}"

    for topic in long_lived_topics():
        for m in h.read_topic(topic):
            absent(f"{topic}@{m.partition}:{m.offset}", (m.value or b"") + b"".join(v or b"" for _, v in m.headers or ()))
    absent("Redis", redis_dump())
    eventually(lambda: wf in es_dump(), what="the run indexed")
    absent("OpenSearch", es_dump().encode())
    for log in sorted((VAR / "log").glob("*.log")):
        absent(str(log), log.read_bytes())

"""Redis look-ups the rules need - sessions, consent, the active policy (projected here from
`uf.sessions`, `uf.consent`, `uf.policy`) and the audit trail's record of a workflow (projected
by the audit service)."""
from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from services.kit.contracts.codec import Decoded
from services.kit.contracts.keys import (
    POLICY_ACTIVE,
    POLICY_HISTORY,
    consent_erased_key,
    consent_key,
    history_key,
    session_key,
    wf_key,
)

# Consent and erasures live on two topics, which a rebuild (empty Redis after a restore) reads in
# no particular order against each other: both sides compare with the erasure time, so the
# projection ends the same whatever the order. KEYS: consent hash, erased-at. ARGV: purpose, value, at
_CONSENT_LUA = """
local erased = tonumber(redis.call('GET', KEYS[2]) or '-1')
if tonumber(ARGV[3]) > erased then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
"""
# KEYS: consent hash, erased-at. ARGV: at
_ERASED_LUA = """
local erased = tonumber(redis.call('GET', KEYS[2]) or '-1')
if tonumber(ARGV[1]) > erased then redis.call('SET', KEYS[2], ARGV[1]) end
redis.call('DEL', KEYS[1])
return 1
"""


def project(decoded: Decoded, pipe: Any) -> None:
    rec = decoded.record
    if decoded.event_type == "SessionStarted":
        pipe.hset(session_key(rec["envelope"]["workflow_id"]), mapping={"user_id": rec["user_id"], "expires_at": str(rec["expires_at"])})
    elif decoded.event_type == "ConsentChanged":
        s = rec["subject_id"]
        pipe.eval(_CONSENT_LUA, 2, consent_key(s), consent_erased_key(s), rec["purpose"], "1" if rec["granted"] else "0",
                  str(rec["envelope"]["occurred_at"]))
    elif decoded.event_type == "SubjectErased":
        s = rec["subject_id"]
        pipe.eval(_ERASED_LUA, 2, consent_key(s), consent_erased_key(s), str(rec["envelope"]["occurred_at"]))
    elif decoded.event_type == "PolicyActivated":
        pipe.set(POLICY_ACTIVE, rec["version"])
        pipe.rpush(POLICY_HISTORY, rec["version"])


class FactStore:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def session(self, session_id: str) -> dict[str, str] | None:
        raw = await self.redis.hgetall(session_key(session_id))
        return {k.decode(): v.decode() for k, v in raw.items()} or None

    async def consent(self, subject_ids: list[str], purpose: str) -> dict[str, bool]:
        """subject -> granted (missing = not granted)."""
        pipe = self.redis.pipeline(transaction=False)
        for s in subject_ids:
            pipe.hget(consent_key(s), purpose)
        values = await pipe.execute()
        return {s: v == b"1" for s, v in zip(subject_ids, values)}

    async def audit_recorded(self, workflow_id: str) -> bool:
        return bool(await self.redis.exists(wf_key(workflow_id)))

    async def audit_transitions(self, workflow_id: str) -> int:
        return int(await self.redis.hlen(history_key(workflow_id)))

"""Record the facts a decision was made on, so it can be re-made later (`ufctl audit redecide`).

Rules see the world only through `Dependencies` (the fact store, the PII service, the token
verifier, the projection barrier, the clock) and the request. While deciding, every dependency
answer is recorded under a key derived from the question (`store.consent` + a hash of its
arguments - never the arguments themselves: they may be texts with PII or tokens); replaying
feeds the same rules the same answers. The request is recorded with its secrets (the actor's and
the reviewer's tokens) replaced by their hashes, which is also the key the recorded token check
is filed under, so a replay asks exactly the recorded question.

The recorded facts travel in `ValidationDecided.facts` (v2, marked PII: never projected to
OpenSearch or Redis; PII of data subjects inside it is sealed as everywhere in the snapshot)."""
from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

from services.kit.rpc import pii_pb2, validator_pb2
from services.validator.audit_progress import Replayed
from services.validator.deps import Dependencies

FACTS_VERSION = 1
_HASHED = "sha256:"


class NotRecorded(Exception):
    """A replayed rule asked a question the recorded decision never asked."""


def secret_ref(token: str) -> str:
    """What stands for a secret token in the recorded facts."""
    if not token or token.startswith(_HASHED):
        return token
    return _HASHED + hashlib.sha256(token.encode()).hexdigest()


def _key(name: str, *args: Any) -> str:
    return name + ":" + hashlib.sha256(json.dumps(args, sort_keys=True, default=str).encode()).hexdigest()[:32]


def scrub_request(request: validator_pb2.ValidateTransitionRequest) -> bytes:
    req = validator_pb2.ValidateTransitionRequest()
    req.CopyFrom(request)
    req.actor.auth_token = secret_ref(req.actor.auth_token)
    if "reviewer_token" in req.snapshot.facts:
        req.snapshot.facts["reviewer_token"] = json.dumps(secret_ref(json.loads(req.snapshot.facts["reviewer_token"])))
    return req.SerializeToString(deterministic=True)


class Recorder:
    """Collects answers per question, in the order they were given (a rule may ask twice: e.g.
    consent again after the barrier says the projection caught up)."""

    def __init__(self) -> None:
        self.answers: dict[str, list[Any]] = {}

    def put(self, key: str, value: Any) -> Any:
        self.answers.setdefault(key, []).append(value)
        return value

    def facts(self, request: validator_pb2.ValidateTransitionRequest) -> str:
        return json.dumps({"v": FACTS_VERSION, "request": base64.b64encode(scrub_request(request)).decode(),
                           "answers": self.answers}, sort_keys=True, separators=(",", ":"))


def _findings_out(per_text: list[list[pii_pb2.Finding]]) -> list[list[str]]:
    return [[base64.b64encode(f.SerializeToString(deterministic=True)).decode() for f in fs] for fs in per_text]


def _findings_in(data: list[list[str]]) -> list[list[pii_pb2.Finding]]:
    return [[pii_pb2.Finding.FromString(base64.b64decode(x)) for x in fs] for fs in data]


class _RecStore:
    def __init__(self, inner: Any, rec: Recorder) -> None:
        self.inner, self.rec = inner, rec

    async def session(self, session_id: str) -> dict[str, str] | None:
        return self.rec.put(_key("store.session", session_id), await self.inner.session(session_id))

    async def consent(self, subject_ids: list[str], purpose: str) -> dict[str, bool]:
        return self.rec.put(_key("store.consent", subject_ids, purpose), await self.inner.consent(subject_ids, purpose))

    async def audit_recorded(self, workflow_id: str) -> bool:
        return self.rec.put(_key("store.audit_recorded", workflow_id), await self.inner.audit_recorded(workflow_id))

    async def audit_transitions(self, workflow_id: str) -> int:
        return self.rec.put(_key("store.audit_transitions", workflow_id), await self.inner.audit_transitions(workflow_id))


class _RecPii:
    def __init__(self, inner: Any, rec: Recorder) -> None:
        self.inner, self.rec = inner, rec

    async def scan(self, texts: list[str]) -> tuple[list[list[pii_pb2.Finding]], str]:
        per_text, classification = await self.inner.scan(texts)
        self.rec.put(_key("pii.scan", texts), [_findings_out(per_text), classification])
        return per_text, classification


class _RecTokens:
    def __init__(self, inner: Any, rec: Recorder) -> None:
        self.inner, self.rec = inner, rec

    def verify(self, token: str) -> tuple[dict[str, Any], str]:
        claims, problem = self.inner.verify(token)
        self.rec.put(_key("tokens.verify", secret_ref(token)), [claims, problem])
        return claims, problem


def recording(deps: Dependencies, rec: Recorder) -> Dependencies:
    async def barrier() -> bool:
        return bool(rec.put("barrier", await deps.barrier()))

    def clock() -> float:
        return float(rec.put("clock", deps.clock()))

    return Dependencies(store=_RecStore(deps.store, rec), barrier=barrier, pii=_RecPii(deps.pii, rec),  # type: ignore[arg-type]
                        tokens=_RecTokens(deps.tokens, rec), audit_progress=deps.audit_progress, clock=clock)  # type: ignore[arg-type]


class _Replay:
    def __init__(self, answers: dict[str, list[Any]]) -> None:
        self.answers = {k: list(v) for k, v in answers.items()}

    def take(self, key: str) -> Any:
        queue = self.answers.get(key)
        if not queue:
            raise NotRecorded(key.split(":", 1)[0])
        return queue.pop(0) if len(queue) > 1 else queue[0]


def replaying(facts: dict[str, Any]) -> tuple[validator_pb2.ValidateTransitionRequest, Dependencies]:
    """The recorded request and dependencies that answer from the recording only."""
    request = validator_pb2.ValidateTransitionRequest.FromString(base64.b64decode(facts["request"]))
    r = _Replay(facts["answers"])

    class Store:
        async def session(self, session_id: str) -> Any:
            return r.take(_key("store.session", session_id))

        async def consent(self, subject_ids: list[str], purpose: str) -> Any:
            return r.take(_key("store.consent", subject_ids, purpose))

        async def audit_recorded(self, workflow_id: str) -> Any:
            return r.take(_key("store.audit_recorded", workflow_id))

        async def audit_transitions(self, workflow_id: str) -> Any:
            return r.take(_key("store.audit_transitions", workflow_id))

    class Pii:
        async def scan(self, texts: list[str]) -> tuple[list[list[pii_pb2.Finding]], str]:
            per_text, classification = r.take(_key("pii.scan", texts))
            return _findings_in(per_text), classification

    class Tokens:
        def verify(self, token: str) -> tuple[dict[str, Any], str]:
            claims, problem = r.take(_key("tokens.verify", secret_ref(token)))
            return claims, problem

    async def barrier() -> bool:
        return bool(r.take("barrier"))

    clock: Callable[[], float] = lambda: float(r.take("clock"))  # noqa: E731
    return request, Dependencies(store=Store(), barrier=barrier, pii=Pii(), tokens=Tokens(),  # type: ignore[arg-type]
                                 audit_progress=Replayed(), clock=clock)  # type: ignore[arg-type]

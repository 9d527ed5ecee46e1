"""Read side for the CLI: current state from Redis, the timeline from OpenSearch - and, for
`status`, the same state checked against the signed log (a projection can be rewritten by
anyone who reaches Redis; the log's signed phase changes cannot)."""
from __future__ import annotations

import json
from typing import Any

import redis
from opensearchpy.exceptions import ConnectionError as SearchConnectionError
from opensearchpy.exceptions import NotFoundError

from services.audit.tools.logcheck import NotVerified, verified_history
from services.kit.contracts.keys import history_key, wf_key
from services.kit.security import redis_auth, search_auth
from ufctl.errors import CliError


def workflow_status(redis_url: str, workflow_id: str) -> dict[str, Any]:
    r = redis.Redis.from_url(redis_url, socket_timeout=5, **redis_auth.credentials())
    try:
        state = {k.decode(): v.decode() for k, v in r.hgetall(wf_key(workflow_id)).items()}
        history = [json.loads(v) for v in r.hgetall(history_key(workflow_id)).values()]
    except redis.ConnectionError:
        raise CliError(f"cannot reach Redis at {redis_url} (is the stack up? `make up`)") from None
    if not state:
        raise CliError(f"unknown workflow id {workflow_id!r} (not seen by the audit service yet?)")
    history.sort(key=lambda h: (h["at"], h["event_id"]))
    return {"workflow_id": workflow_id, "phase": state.get("phase"), "reason": state.get("reason", ""),
            "session_id": state.get("session_id", ""), "history": history, "waiting": waiting(state)}


def waiting(state: dict[str, str]) -> dict[str, Any] | None:
    """A parked workflow (no decision could be had yet; a timer asks again): what it waits to
    enter, why, and when the next attempt is due. None once a later phase change happened."""
    pos = state.get("waiting_pos")
    if not pos or pos < state.get("phase_pos", ""):
        return None
    return {"target_phase": state.get("waiting_target", ""), "reason": state.get("waiting_reason", ""),
            "next_attempt_at": int(state.get("next_attempt_at") or 0), "attempt": int(state.get("waiting_attempt") or 0)}


def audit_timeline(es_url: str, index: str, workflow_id: str, size: int = 1000) -> list[dict[str, Any]]:
    es = search_auth.client(es_url, request_timeout=10)
    try:
        res = es.search(index=index, size=size, body={"query": {"term": {"workflow_id": workflow_id}},
                                                      "sort": [{"occurred_at": "asc"}, {"offset": "asc"}]})
    except SearchConnectionError:
        raise CliError(f"cannot reach OpenSearch at {es_url} (is the stack up? `make up`)") from None
    except NotFoundError:
        raise CliError("no audit index yet (has the audit service run?)") from None
    hits = [h["_source"] for h in res["hits"]["hits"]]
    if not hits:
        raise CliError(f"unknown workflow id {workflow_id!r}: no audit events")
    return hits


def verify_status(bootstrap: str, status: dict[str, Any]) -> dict[str, Any]:
    """The status as the signed log tells it. Adds `verified` (bool) and `verification` (what
    was found). When the projection differs from the log, the log wins and `drift` says what the
    projection claimed."""
    import asyncio

    try:
        history, refused = asyncio.run(verified_history(bootstrap, status["workflow_id"]))
    except NotVerified as exc:
        return {**status, "verified": False, "verification": f"NOT VERIFIED against the signed log: {exc}; "
                                                              "showing the unverified projection"}
    if not history:
        if status["phase"] == "REQUESTED":
            return {**status, "verified": True, "verification": "no phase change in the signed log yet"}
        return {**status, "phase": None, "history": [], "verified": True, "drift": {"projection_phase": status["phase"]},
                "verification": f"the projection says {status['phase']} but the signed log has no phase change"}
    last = history[-1]
    out = {**status, "phase": last["phase"], "reason": last["reason"] if last["phase"] != status["phase"] else status["reason"],
           "history": history, "verified": True,
           "verification": "verified against the signed log" + (f" ({refused} forged record(s) ignored)" if refused else "")}
    if last["phase"] != status["phase"] or len(history) != len(status["history"]):
        out["drift"] = {"projection_phase": status["phase"], "projection_history": len(status["history"])}
        out["verification"] = (f"the projection says {status['phase']} ({len(status['history'])} transitions) but the "
                               f"signed log says {last['phase']} ({len(history)}): showing the log "
                               "(rebuild the projection: `ufctl audit replay`)")
    return out

"""Compliance report for one workflow, built from the audit trail (the PII-free projection):
every transition with the validator decision that allowed it (rules, outcomes, policy version),
denied decisions, PII findings (types and counts only), approvals, deliveries, consent changes
and erasures of the workflow's data subjects. Rendered as JSON and as a Markdown page."""
from __future__ import annotations

import time
from collections import Counter
from typing import Any

from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import NotFoundError

MAX_EVENTS = 10_000
PII_RULES = {"pii_classification", "output_privacy"}


class ReportError(Exception):
    """No report possible (unknown workflow, no trail). No PII in messages."""


async def _search(es: AsyncOpenSearch, alias: str, query: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        await es.indices.refresh(index=alias)  # a report names every event indexed so far, not only refreshed ones
        res = await es.search(index=alias, size=MAX_EVENTS,
                              body={"query": query, "sort": [{"occurred_at": "asc"}, {"offset": "asc"}]})
    except NotFoundError:
        raise ReportError("no audit index yet (has the audit service run?)") from None
    return [h["_source"] for h in res["hits"]["hits"]]


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def _decision(doc: dict[str, Any]) -> dict[str, Any]:
    d = doc["data"]
    return {"decision_id": d.get("decision_id"), "allowed": d.get("allowed"), "from": d.get("from_phase"),
            "to": d.get("to_phase"), "policy_version": d.get("policy_version"), "actor_id": d.get("actor_id"),
            "at": _iso(doc["occurred_at"]), "event_id": doc["event_id"],
            "rules": [{"rule": r.get("rule"), "allowed": r.get("allowed"), "reason": r.get("reason")} for r in d.get("rules", [])]}


async def build_report(es: AsyncOpenSearch, alias: str, workflow_id: str) -> dict[str, Any]:
    events = await _search(es, alias, {"bool": {"should": [{"term": {"workflow_id": workflow_id}},
                                                            {"term": {"correlation_id": workflow_id}}],
                                                 "minimum_should_match": 1}})
    if not events:
        raise ReportError(f"unknown workflow id {workflow_id!r}: no audit events")
    by_type: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_type.setdefault(e["event_type"], []).append(e)
    decisions = {d["data"].get("decision_id"): d for d in by_type.get("ValidationDecided", [])}
    transitions = []
    for e in by_type.get("WorkflowPhaseChanged", []):
        d = e["data"]
        dec = decisions.get(d.get("decision_id"))
        transitions.append({"from": d.get("from_phase"), "to": d.get("to_phase"), "at": _iso(e["occurred_at"]),
                            "reason": d.get("reason", ""), "event_id": e["event_id"],
                            "decision": _decision(dec) if dec else None})
    used = {t["decision"]["decision_id"] for t in transitions if t["decision"]}
    denied = [_decision(d) for k, d in decisions.items() if k not in used and not d["data"].get("allowed")]
    request = (by_type.get("WorkflowRequested") or [None])[0]
    subjects: set[str] = set()
    for e in events:
        subjects.update(e.get("subject_ids") or ())
    # PII: the validator's PII rules, plus asynchronous scans correlated with the workflow
    pii_rules = [{"decision_id": dec["data"].get("decision_id"), "to": dec["data"].get("to_phase"), **r}
                 for dec in decisions.values() for r in dec["data"].get("rules", []) if r.get("rule") in PII_RULES]
    counts: Counter[str] = Counter()
    classes = []
    for scan in by_type.get("PiiScanCompleted", []):
        counts.update({k: int(v) for k, v in (scan["data"].get("counts") or {}).items()})
        classes.append(scan["data"].get("classification"))
    approvals = [{"approved": e["data"].get("approved"), "reviewer_id": e["data"].get("reviewer_id"),
                  "at": _iso(e["occurred_at"]), "producer": e["producer"]["service"], "event_id": e["event_id"]}
                 for e in by_type.get("ReviewDecided", [])]
    outcomes: dict[str, list[dict[str, Any]]] = {}
    for e in by_type.get("DeliveryOutcome", []):
        outcomes.setdefault(e["data"].get("delivery_id"), []).append(e)
    deliveries = []
    for e in by_type.get("DeliveryRequested", []):
        did = e["data"].get("delivery_id")
        outs = outcomes.get(did, [])
        deliveries.append({"delivery_id": did, "subject_id": e["data"].get("subject_id"), "requested_at": _iso(e["occurred_at"]),
                           "outcomes": [{"status": o["data"].get("status"), "duplicate": o["data"].get("duplicate", False),
                                         "at": _iso(o["occurred_at"])} for o in outs]})
    subject_events = await _search(es, alias, {"bool": {"filter": [
        {"terms": {"subject_ids": sorted(subjects)}}, {"terms": {"event_type": ["SubjectErased", "ConsentChanged"]}}]}}) if subjects else []
    erasures = [{"subject_id": e["data"].get("subject_id"), "reason": e["data"].get("reason"),
                 "erased_by": e["data"].get("erased_by"), "at": _iso(e["occurred_at"]), "event_id": e["event_id"]}
                for e in subject_events if e["event_type"] == "SubjectErased"]
    consent = [{"subject_id": e["data"].get("subject_id"), "purpose": e["data"].get("purpose"),
                "granted": e["data"].get("granted"), "at": _iso(e["occurred_at"])}
               for e in subject_events if e["event_type"] == "ConsentChanged"]
    phases = [t["to"] for t in transitions]
    return {
        "report_version": 1, "generated_at": _iso(int(time.time() * 1000)), "workflow_id": workflow_id,
        "requested": {"at": _iso(request["occurred_at"]), "requester_id": request["data"].get("requester_id"),
                      "purpose": request["data"].get("purpose"), "contacts": len(request["data"].get("contacts", [])),
                      "auto_approve": request["data"].get("auto_approve")} if request else None,
        "final_phase": phases[-1] if phases else None,
        "policy_versions": sorted({d["data"].get("policy_version") for d in decisions.values() if d["data"].get("policy_version")}),
        "transitions": transitions, "denied_decisions": denied,
        "pii": {"rule_outcomes": pii_rules, "scan_counts": dict(sorted(counts.items())),
                "scan_classifications": sorted({c for c in classes if c})},
        "approvals": approvals, "deliveries": deliveries,
        "delivery_summary": dict(Counter(o["status"] for d in deliveries for o in d["outcomes"] if not o["duplicate"])),
        "data_subjects": sorted(subjects), "consent_changes": consent, "erasures": erasures,
        "event_counts": {k: len(v) for k, v in sorted(by_type.items())},
        "integrity": {"how_to_verify": "ufctl audit verify; ufctl audit prove EVENT_ID for any event_id listed here"},
    }


def _md_escape(text: Any) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def render_markdown(r: dict[str, Any]) -> str:
    out = [f"# Compliance report: workflow `{r['workflow_id']}`", "",
           f"Generated {r['generated_at']} from the audit trail (no personal data: subjects appear by pseudonym only).", ""]
    req = r.get("requested")
    if req:
        out += [f"- Requested {req['at']} by `{req['requester_id']}` for purpose **{req['purpose']}**, "
                f"{req['contacts']} contact(s), auto-approve: {req['auto_approve']}"]
    v = r.get("verification")
    if v:
        out += [f"- Verification: {'verified against the signed log' if v['verified'] else '**NOT VERIFIED**: ' + v['detail']}"]
    out += [f"- Final phase: **{r['final_phase']}**", f"- Policy version(s): {', '.join(r['policy_versions']) or 'none'}", "",
            "## Transitions and the decisions that allowed them", "",
            "| at | from | to | decision | policy | rules |", "|---|---|---|---|---|---|"]
    for t in r["transitions"]:
        d = t["decision"]
        rules = "; ".join(f"{x['rule']}: {'ok' if x['allowed'] else 'DENY'} ({x['reason']})" for x in d["rules"]) if d else ""
        out.append(f"| {t['at']} | {t['from'] or 'START'} | {t['to']} | "
                   f"{(('ALLOW' if d['allowed'] else 'DENY') + ' ' + _md_escape(d['decision_id'])) if d else '(none recorded)'} | "
                   f"{_md_escape(d['policy_version']) if d else ''} | {_md_escape(rules)} |")
    if r["denied_decisions"]:
        out += ["", "## Denied requests", "", "| at | from | to | policy | rules |", "|---|---|---|---|---|"]
        for d in r["denied_decisions"]:
            rules = "; ".join(f"{x['rule']}: {'ok' if x['allowed'] else 'DENY'} ({x['reason']})" for x in d["rules"])
            out.append(f"| {d['at']} | {d['from'] or 'START'} | {d['to']} | {_md_escape(d['policy_version'])} | {_md_escape(rules)} |")
    pii = r["pii"]
    out += ["", "## PII findings", ""]
    if pii["scan_counts"]:
        out += ["| type | count |", "|---|---|"] + [f"| {k} | {v} |" for k, v in pii["scan_counts"].items()]
        out.append(f"\nClassification(s): {', '.join(pii['scan_classifications'])}")
    for x in pii["rule_outcomes"]:
        out.append(f"- {x['rule']} before {x['to']}: {'passed' if x['allowed'] else 'FAILED'} - {_md_escape(x['reason'])}")
    if not pii["scan_counts"] and not pii["rule_outcomes"]:
        out.append("No PII scan recorded for this workflow.")
    out += ["", "## Approvals", ""]
    out += [f"- {a['at']}: {'approved' if a['approved'] else 'rejected'} by `{a['reviewer_id']}` (via {a['producer']})"
            for a in r["approvals"]] or ["None recorded."]
    out += ["", "## Deliveries", "", "| delivery | subject | requested | outcome |", "|---|---|---|---|"]
    for d in r["deliveries"]:
        outcome = ", ".join(f"{o['status']}{' (dup)' if o['duplicate'] else ''} {o['at']}" for o in d["outcomes"]) or "no outcome"
        out.append(f"| {_md_escape(d['delivery_id'])} | {_md_escape(d['subject_id'])} | {d['requested_at']} | {outcome} |")
    out += ["", "## Consent changes and erasures of the workflow's data subjects", ""]
    out += [f"- {c['at']}: consent {'granted' if c['granted'] else 'WITHDRAWN'} by `{c['subject_id']}` for {c['purpose']}"
            for c in r["consent_changes"]]
    out += [f"- {e['at']}: `{e['subject_id']}` ERASED ({e['reason']}, by {e['erased_by']})" for e in r["erasures"]]
    if not r["consent_changes"] and not r["erasures"]:
        out.append("None recorded.")
    out += ["", "## Integrity", "", f"Events in the trail: {sum(r['event_counts'].values())} "
            f"({', '.join(f'{k} {v}' for k, v in r['event_counts'].items())}).",
            f"To check them against the signed checkpoints: {r['integrity']['how_to_verify']}.", ""]
    return "\n".join(out)


def check_against_log(rep: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    """The report's transitions (from the search engine) compared with the signed log's. On any
    difference the log's phases win and the report says plainly that the trail was altered."""
    from_es = [(t["from"], t["to"]) for t in rep["transitions"]]
    from_log = [(h["from"], h["phase"]) for h in history]
    if from_es == from_log:
        return {**rep, "verification": {"verified": True, "detail": "transitions match the signed log"}}
    return {**rep, "final_phase": from_log[-1][1] if from_log else None,
            "verification": {"verified": False, "detail": (
                f"the search engine's transitions {[t for _, t in from_es]} differ from the signed log's "
                f"{[t for _, t in from_log]}; final phase taken from the log")}}

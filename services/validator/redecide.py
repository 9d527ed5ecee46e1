"""Re-make recorded decisions: run the rules of the policy version that decided, on the facts
the decision recorded (services/validator/recording.py), and compare. Used by
`ufctl audit redecide` - an auditor's proof that each decision followed its policy."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.validator.policy.loader import PolicyError, load_policy_file
from services.validator.recording import replaying
from services.validator.servicer import evaluate


def _outcome(allowed: bool, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"allowed": allowed, "rules": [{"rule": r["rule"], "allowed": r["allowed"], "reason": r["reason"]} for r in rules]}


async def redecide(decision: dict[str, Any], policy_dir: Path) -> dict[str, Any]:
    """One entry: {decision_id, recorded, recomputed, same} (+ note when it cannot be re-made)."""
    recorded = _outcome(decision["allowed"], decision["rules"])
    entry: dict[str, Any] = {"decision_id": decision["decision_id"], "policy_version": decision["policy_version"],
                             "from_phase": decision.get("from_phase"), "to_phase": decision["to_phase"],
                             "recorded": recorded, "recomputed": None, "same": False}
    if not decision.get("facts"):
        return {**entry, "note": "no recorded facts (decision recorded before ValidationDecided v2)"}
    try:
        loaded = load_policy_file(policy_dir / f"{decision['policy_version']}.yaml")
    except (PolicyError, OSError) as exc:
        return {**entry, "note": f"policy {decision['policy_version']} not loadable: {exc.__class__.__name__}"}
    if decision.get("policy_sha256") and loaded.sha256 != decision["policy_sha256"]:
        return {**entry, "note": "the policy file differs from the one that decided (hash mismatch)"}
    request, deps = replaying(json.loads(decision["facts"]))
    outcomes = await evaluate(request, loaded.policy, deps)
    rules = [{"rule": o.rule, "allowed": o.allowed, "reason": o.reason} for o in outcomes]
    recomputed = _outcome(bool(outcomes) and all(o.allowed for o in outcomes), rules)
    return {**entry, "recomputed": recomputed, "same": recomputed == recorded}

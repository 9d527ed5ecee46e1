"""STRATEGY_ANALYSIS: pick one template per recipient by an ordered rule table (first match
wins), so the choice is explainable in the audit trail."""
from __future__ import annotations

from typing import Any

from services.orchestrator.agents.base import AgentError

# (goal, segment or "*", locale or "*") -> template. First match wins.
TEMPLATE_RULES: list[tuple[str, str, str, str]] = [
    ("promotion", "vip", "*", "promotion_vip"),
    ("promotion", "*", "de", "promotion_de"),
    ("promotion", "*", "*", "promotion"),
    ("reengage", "*", "*", "reengage"),
    ("announce", "*", "de", "announce_de"),
    ("announce", "*", "*", "announce"),
]


def choose_template(goal: str, segment: str, locale: str) -> str:
    for g, seg, loc, template in TEMPLATE_RULES:
        if g == goal and seg in ("*", segment) and loc in ("*", locale):
            return template
    raise AgentError(f"no template rule for goal {goal!r}")


class StrategyAgent:
    name = "builtin.strategy"
    phase = "STRATEGY_ANALYSIS"

    def run(self, task_input: dict[str, Any]) -> dict[str, Any]:
        goal = task_input["campaign"]["goal"]
        assignments = [
            {"subject_id": r["subject_id"], "template": choose_template(goal, r.get("segment", "standard"), r.get("locale", "en"))}
            for r in task_input["recipients"]
        ]
        counts: dict[str, int] = {}
        for a in assignments:
            counts[a["template"]] = counts.get(a["template"], 0) + 1
        return {"assignments": assignments, "templates_used": counts}

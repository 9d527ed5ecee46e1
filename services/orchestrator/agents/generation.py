"""GENERATION: render each recipient's email with Jinja2 in a sandbox (templates cannot reach
Python internals) and strict undefined (a missing variable is an error, not an empty hole)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from services.kit.contracts.events import stable_id
from services.orchestrator.agents.base import AgentError

TEMPLATES = Path(__file__).parent / "templates"
_env = SandboxedEnvironment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def render(template: str, context: dict[str, Any]) -> str:
    try:
        return _env.get_template(f"{template}.txt.j2").render(**context)
    except TemplateError as exc:
        raise AgentError(f"template {template!r} failed: {exc.__class__.__name__}") from None


class GenerationAgent:
    name = "builtin.generation"
    phase = "GENERATION"

    def run(self, task_input: dict[str, Any]) -> dict[str, Any]:
        campaign = task_input["campaign"]
        by_subject = {r["subject_id"]: r for r in task_input["recipients"]}
        emails = []
        for a in task_input["assignments"]:
            r = by_subject[a["subject_id"]]
            context = {"name": r["name"], "campaign": campaign["name"], **campaign.get("variables", {})}
            emails.append({
                "delivery_id": stable_id(task_input["workflow_id"], r["subject_id"], "email"),
                "subject_id": r["subject_id"],
                "recipient": r["email"],
                "sender": campaign["sender"],
                "subject": campaign["subject"],
                "body": render(a["template"], context),
                "template": a["template"],
            })
        return {"emails": emails}

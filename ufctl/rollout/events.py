"""Rollout facts for the audit trail: `RolloutStepRecorded` and `RolloutAnalysisRecorded` on
`uf.rollouts` (declared in infra/topics.yaml, so the audit service projects and attests them
like every declared topic). Key and workflow_id = the rollout id."""
from __future__ import annotations

import asyncio
import getpass
from typing import Any

from services import __version__
from services.kit.contracts import topics
from services.kit.contracts.events import Origin, make_event
from services.kit.runtime.config import ServiceSettings
from ufctl import publishing
from ufctl.rollout.state import Rollout

ORIGIN = Origin("ufctl-rollout", __version__, "cli")


def _send(event: dict[str, Any]) -> None:
    asyncio.run(publishing.send_events(ServiceSettings().kafka_bootstrap, [(topics.ROLLOUTS, event)]))


def step(r: Rollout, name: str, *, reason: str = "", switch_ms: int | None = None) -> None:
    _send(make_event("RolloutStepRecorded", origin=ORIGIN, workflow_id=r.rollout_id, session_id="",
                     correlation_id=r.rollout_id, rollout_id=r.rollout_id, service=r.service, step=name,
                     active_colour=r.active, active_version=r.versions.get(r.active, ""),
                     preview_colour=r.preview, preview_version=r.versions.get(r.preview) if r.preview else None,
                     reason=reason, switch_ms=switch_ms, operator=getpass.getuser()))


def analysis(r: Rollout, colour: str, verdict: str, measurements: list[dict[str, Any]]) -> None:
    _send(make_event("RolloutAnalysisRecorded", origin=ORIGIN, workflow_id=r.rollout_id, session_id="",
                     correlation_id=r.rollout_id, rollout_id=r.rollout_id, service=r.service, colour=colour,
                     version=r.versions.get(colour, ""), verdict=verdict,
                     measurements=[{k: m[k] for k in ("trigger", "value", "threshold", "result")} for m in measurements]))

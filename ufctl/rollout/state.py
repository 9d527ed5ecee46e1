"""The local record of a service's rollout (`var/run/rollouts/<service>.json`): what
`ufctl rollout status` shows. Written by the CLI and by the detached analysis process, so every
change is a read-modify-write under an exclusive file lock. The audit trail's copy is the
`uf.rollouts` topic (events.py); this file is the operational view."""
from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from services.kit.runtime.paths import VAR

ROLLOUTS_DIR = VAR / "run" / "rollouts"

PREVIEW = "Preview"          # new colour up, role preview; waiting for promote or abort
ANALYSING = "Analysing"      # promoted; the analysis watches the new colour
COMPLETED = "Completed"      # analysis passed; old colour scaled down
ROLLED_BACK = "RolledBack"   # a trigger fired; partitions back with the old colour
ABORTED = "Aborted"          # operator aborted (preview stopped, or promoted colour rolled back)
FAILED = "Failed"            # the new colour never became ready
IN_PROGRESS = (PREVIEW, ANALYSING)


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Rollout:
    rollout_id: str
    service: str
    phase: str
    active: str                          # colour consuming the production groups
    preview: str | None                  # colour up as preview (None when there is none)
    versions: dict[str, str] = field(default_factory=dict)
    fault: str = ""
    analysis_pid: int | None = None
    analysis: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    def record(self, step: str, **detail: Any) -> None:
        self.history.append({"at": now_ms(), "step": step, "phase": self.phase, **detail})

    def as_status(self) -> dict[str, Any]:
        """The fixed `ufctl rollout status --json` shape (plus versions and ids)."""
        return {"service": self.service, "active": self.active, "preview": self.preview, "phase": self.phase,
                "analysis": self.analysis, "history": self.history, "rollout_id": self.rollout_id,
                "versions": self.versions, "fault": self.fault}


def _path(service: str) -> Any:
    return ROLLOUTS_DIR / f"{service}.json"


def load(service: str) -> Rollout | None:
    try:
        raw = json.loads(_path(service).read_text())
    except FileNotFoundError:
        return None
    return Rollout(**raw)


def save(r: Rollout) -> None:
    ROLLOUTS_DIR.mkdir(parents=True, exist_ok=True)
    tmp = _path(r.service).with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(r), indent=1))
    os.replace(tmp, _path(r.service))


@contextmanager
def locked(service: str) -> Iterator[None]:
    """Serialise rollout steps of one service (CLI and analysis process)."""
    ROLLOUTS_DIR.mkdir(parents=True, exist_ok=True)
    with open(ROLLOUTS_DIR / f"{service}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)

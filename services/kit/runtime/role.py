"""The instance's rollout role - `active` or `preview` - read from a file that changes at run time.

Why a file: on Kubernetes, Argo Rollouts stamps ephemeral labels on the pods of the active and
the preview ReplicaSet (`activeMetadata` / `previewMetadata`), and a Downward API volume of
`metadata.labels` shows them in a file the kubelet rewrites when they change - the pod learns
that it was promoted without any API access. Locally the launcher writes the same file in the
same format (`key="value"` lines), so one code path serves both.

What a role means: an `active` instance joins the production consumer groups; a `preview`
instance is ready (its dependencies answer) but consumes nothing and produces no side effects.
Every gated consumer reports here whether it is `released` (out of its group, offsets
committed), `joining` or `consuming`; `/role` shows it so a rollout controller hands partitions
over only once the old colour has let go of them.

Fail closed: when a role file is configured but missing, unreadable or without a valid `role`
label, the instance is `preview` - a pod that cannot tell its role must not consume. No file
configured (`UF_ROLE_FILE` empty: plain `docker compose`, a Deployment without Argo) = `active`.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

ACTIVE = "active"
PREVIEW = "preview"
ROLES = (ACTIVE, PREVIEW)
LABEL = "role"  # the pod label Argo's activeMetadata/previewMetadata set: role=active|preview

RELEASED, JOINING, CONSUMING = "released", "joining", "consuming"


def parse_labels(text: str) -> dict[str, str]:
    """The Downward API `labels` file: one `key="value"` per line, values quoted like Go strings."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or not key:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out[key.strip()] = value
    return out


def format_labels(labels: dict[str, str]) -> str:
    return "".join(f'{k}="{v}"\n' for k, v in sorted(labels.items()))


def read_role(path: Path | None) -> str:
    if path is None:
        return ACTIVE
    try:
        value = parse_labels(path.read_text()).get(LABEL, "")
    except OSError:
        return PREVIEW
    return value if value in ROLES else PREVIEW


def write_role(path: Path, role: str) -> None:
    """Atomically (write + rename, as the kubelet does) set the role label, keeping other labels."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    try:
        labels = parse_labels(path.read_text())
    except OSError:
        labels = {}
    labels[LABEL] = role
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(format_labels(labels))
    os.replace(tmp, path)


@dataclass
class RoleState:
    """This process's role and what each gated consumer has done about it."""

    path: Path | None = None
    role: str = ACTIVE
    colour: str = ""
    version: str = ""
    since: float = field(default_factory=time.time)
    members: dict[str, str] = field(default_factory=dict)
    member_since: dict[str, float] = field(default_factory=dict)  # when each member reached its state
    marks: dict[str, float] = field(default_factory=dict)  # steps of the last role change (mark())
    _changed: asyncio.Event | None = None

    @property
    def active(self) -> bool:
        return self.role == ACTIVE

    def refresh(self) -> bool:
        """Re-read the file; True when the role changed."""
        new = read_role(self.path)
        if new == self.role:
            return False
        log.info("role changed", extra={"from": self.role, "to": new})
        self.role, self.since = new, time.time()
        self.marks = {"role-seen": self.since}
        self._event().set()
        return True

    def _event(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    async def changed(self) -> None:
        """Wait for the next role change."""
        ev = self._event()
        ev.clear()
        await ev.wait()

    async def until_active(self) -> None:
        while not self.active:
            await self.changed()

    def report(self, member: str, state: str) -> None:
        if self.members.get(member) != state:
            self.members[member], self.member_since[member] = state, time.time()
            self.mark(f"{member}:{state}")

    def mark(self, step: str) -> None:
        """Time-stamp one step of the current hand-over (first time only), e.g. `uf-orchestrator:assigned`:
        `/role` shows them so `ufctl rollout` records where a switch's time went."""
        self.marks.setdefault(step, time.time())

    def settled(self) -> bool:
        """Every gated consumer did what the role asks (an instance with none is settled)."""
        want = CONSUMING if self.active else RELEASED
        return all(s == want for s in self.members.values())

    def snapshot(self) -> dict[str, object]:
        return {"role": self.role, "since": self.since, "consumers": dict(self.members), "settled": self.settled(),
                "consumers_since": dict(self.member_since), "marks": dict(self.marks), "colour": self.colour, "version": self.version}

    async def watch(self, poll_s: float = 0.1) -> None:
        """Poll the file (a stat and a small read): inotify does not see the kubelet's symlink swap
        reliably, and a tenth of a second is well inside the hand-over budget."""
        while self.path is not None:
            self.refresh()
            await asyncio.sleep(poll_s)
        await asyncio.Event().wait()  # no file: the role never changes


_STATE = RoleState()


def configure(path: str, colour: str = "", version: str = "") -> RoleState:
    """Called once by the service runner with `UF_ROLE_FILE` ("" = always active)."""
    global _STATE
    p = Path(path) if path else None
    _STATE = RoleState(path=p, role=read_role(p), colour=colour, version=version)
    log.info("role", extra={"role": _STATE.role, "role_file": str(p) if p else ""})
    return _STATE


def current() -> RoleState:
    return _STATE

"""Hand a service's partitions from one colour to the other at the committed offsets.

The order is what makes it exact: (1) the role of every instance of the old colour becomes
preview; each of their gated consumers finishes the batch in hand, commits (the orchestrator:
its transaction, and waits until the offsets are visible) and leaves its group; (2) only when
every old instance's `/role` says every consumer is released do the new colour's instances
become active; they join, the group is theirs alone, and they resume at exactly the committed
offsets (the orchestrator's new owners fence each partition's transactional id first, also
when partitions move between the new instances while they join one after the other). At no
moment do two colours consume.

An old colour that does not let go within `release_timeout_s` (hung, or its faulty batch takes
too long) is killed: the orchestrator's new owner then fences its transactional id, so a
half-done transaction of the old colour is aborted, never committed."""
from __future__ import annotations

import json
import signal
import time
from dataclasses import dataclass

from services import launcher
from services.kit.runtime.role import ACTIVE, PREVIEW, write_role
from ufctl.errors import CliError


@dataclass(frozen=True)
class Switch:
    release_ms: int      # old colour: role change written -> every consumer out of its group (as seen here)
    join_ms: int         # new colour: role change written -> consuming (partitions assigned, state restored)
    total_ms: int        # controller's view: demotion written -> new colour settled
    pause_ms: int | None  # instances' view: last old consumer released -> last new consumer consuming
    started_at: int      # wall-clock ms: demotion written
    done_at: int         # wall-clock ms: new colour settled
    killed_old: bool     # the old colour did not release in time and was killed
    timeline: dict[str, int]  # "old|new <step>" -> ms after the demotion was written (role.RoleState.mark)


def role_of(service: str, colour: str, i: int = 0) -> dict | None:
    ok, body = launcher.colour_get(service, "/role", colour, timeout_s=2, i=i)
    if not ok:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def wait_settled(service: str, colour: str, role: str, timeout_s: float, i: int = 0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = role_of(service, colour, i)
        if r and r.get("role") == role and r.get("settled"):
            return True
        if launcher.colour_pid(service, colour, i) is None:
            return False
        time.sleep(0.02)
    return False


def _last(snapshot: dict | None) -> float | None:
    times = (snapshot or {}).get("consumers_since") or {}
    return max(times.values()) if times else None


def switch(service: str, old: str, new: str, *, release_timeout_s: float = 20.0, join_timeout_s: float = 60.0) -> Switch:
    """Move the production groups of `service` from every instance of colour `old` to every
    instance of colour `new`."""
    started_at = int(time.time() * 1000)
    t0 = time.monotonic()
    n = launcher.colour_replicas(service)
    killed = False
    demoted = [i for i in range(n) if launcher.colour_pid(service, old, i) is not None]
    for i in demoted:  # all at once: the instances let go in parallel
        write_role(launcher.colour_role_file(service, old, i), PREVIEW)
    deadline = time.monotonic() + release_timeout_s
    for i in demoted:
        if not wait_settled(service, old, PREVIEW, max(0.0, deadline - time.monotonic()), i):
            launcher.stop(launcher.colour_instance(service, old, i), signal.SIGKILL, timeout_s=5)
            killed = True
    t1 = time.monotonic()
    for i in range(n):
        write_role(launcher.colour_role_file(service, new, i), ACTIVE)
    launcher.set_live_colour(service, new)
    deadline = time.monotonic() + join_timeout_s
    for i in range(n):
        if not wait_settled(service, new, ACTIVE, max(0.0, deadline - time.monotonic()), i):
            raise CliError(f"{service} {new} did not take the partitions over within {join_timeout_s:.0f}s "
                           f"(see var/log/{launcher.colour_instance(service, new, i)}.log)")
    t2 = time.monotonic()
    old_roles = [None if killed else role_of(service, old, i) for i in range(n)]
    new_roles = [role_of(service, new, i) for i in range(n)]
    old_role, new_role = old_roles[0], new_roles[0]
    released = max((t for t in map(_last, old_roles) if t), default=None)
    consuming = max((t for t in map(_last, new_roles) if t), default=None)
    pause = int((consuming - released) * 1000) if released and consuming else None
    return Switch(release_ms=int((t1 - t0) * 1000), join_ms=int((t2 - t1) * 1000), total_ms=int((t2 - t0) * 1000),
                  pause_ms=pause, started_at=started_at, done_at=int(time.time() * 1000), killed_old=killed,
                  timeline=timeline(started_at, old_role, new_role, old_roles[1:], new_roles[1:]))


def timeline(started_at: int, old_role: dict | None, new_role: dict | None,
             old_more: list[dict | None] | None = None, new_more: list[dict | None] | None = None) -> dict[str, int]:
    """Where the switch's time went: every step both colours time-stamped, in order (instance 0
    as `old`/`new`, the others as `old@1`, `new@1`, ...)."""
    snaps = [("old", old_role), ("new", new_role)]
    snaps += [(f"old@{i}", s) for i, s in enumerate(old_more or [], 1)]
    snaps += [(f"new@{i}", s) for i, s in enumerate(new_more or [], 1)]
    steps = [(f"{who} {step}", int(at * 1000) - started_at)
             for who, snap in snaps
             for step, at in ((snap or {}).get("marks") or {}).items()]
    return dict(sorted(steps, key=lambda kv: kv[1]))

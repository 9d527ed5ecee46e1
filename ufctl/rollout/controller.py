"""Local blue-green rollouts of one service: the steps `ufctl rollout` and the analysis process
take. The local stand-in for an Argo Rollouts `Rollout` (k8s/components/blue-green/): two
colours via the launcher, roles via role files, partitions handed over at committed offsets
(handover.py), the same trigger queries (analysis.py), every step an event (events.py)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

from services import __version__, launcher
from services.kit.runtime.paths import ROOT, VAR
from services.kit.runtime.role import PREVIEW
from services.kit.runtime.service_table import SERVICES
from ufctl.errors import CliError
from ufctl.rollout import events, handover
from ufctl.rollout import state as st
from ufctl.rollout.state import Rollout

# Every service: Kafka consumers are role-gated (bus.ConsumeLoop, the orchestrator's processor),
# so are the audit service's checkpointer and retention sweeper, and the gRPC services' production
# address follows the role (services/kit/runtime/grpc_roles.py).
SUPPORTED = ("orchestrator", "delivery", "validator", "pii", "audit")
FAULTS = ("errors", "latency", "memory", "cpu")
READY_TIMEOUT_S = 90.0


def other(colour: str) -> str:
    return "green" if colour == "blue" else "blue"


def _check_service(service: str) -> None:
    if service not in SERVICES:
        raise CliError(f"unknown service {service!r}; known: {', '.join(SERVICES)}")
    if service not in SUPPORTED:
        raise CliError(f"local blue-green covers {', '.join(SUPPORTED)}, not {service}")


def _running_version(service: str, colour: str) -> str:
    r = handover.role_of(service, colour)
    return str(r.get("version") or __version__) if r else __version__


def start(service: str, version: str, fault: str = "") -> Rollout:
    _check_service(service)
    if fault:
        if fault not in FAULTS:
            raise CliError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
        if os.environ.get("UF_TEST_FAULTS") != "1":
            raise CliError("--fault is test-only: the suite must run with UF_TEST_FAULTS=1")
    with st.locked(service):
        r = st.load(service)
        if r and r.phase in st.IN_PROGRESS:
            raise CliError(f"a rollout of {service} is already {r.phase} ({r.rollout_id}); promote or abort it first")
        old = launcher.live_colour(service)
        if not launcher.colour_running(service, old):
            raise CliError(f"{service} ({old}) is not running; start the suite first (`make up`)")
        new = other(old)
        launcher.stop_colour(service, new)  # a leftover of an earlier rollout
        env = {"UF_VERSION": version}
        if fault:
            env.update(UF_TEST_FAULT=fault, UF_TEST_FAULTS="1")
        r = Rollout(rollout_id=f"rollout-{service}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}",
                    service=service, phase=st.PREVIEW, active=old, preview=new,
                    versions={old: _running_version(service, old), new: version}, fault=fault)
        launcher.start_colour(service, new, PREVIEW, env)
        r.record("started", colour=new, version=version, fault=fault)
        st.save(r)
        if not launcher.wait_colour_ready(service, new, READY_TIMEOUT_S):
            launcher.stop_colour(service, new)
            r.phase, r.preview = st.FAILED, None
            r.record("failed", reason="new colour not ready")
            st.save(r)
            events.step(r, "failed", reason="new colour not ready")
            raise CliError(f"{service} {new} not ready within {READY_TIMEOUT_S:.0f}s; "
                           f"see var/log/{launcher.colour_instance(service, new)}.log")
    events.step(r, "started", reason=f"fault={fault}" if fault else "")
    return r


def promote(service: str, analysis_s: float | None = None) -> tuple[Rollout, handover.Switch]:
    _check_service(service)
    with st.locked(service):
        r = st.load(service)
        if not r or r.phase != st.PREVIEW or not r.preview:
            raise CliError(f"no rollout of {service} waiting in Preview (phase: {r.phase if r else 'none'})")
        old, new = r.active, r.preview
        if not launcher.colour_running(service, new):
            raise CliError(f"{service} {new} is not running any more; abort this rollout and start again")
        sw = handover.switch(service, old, new)
        r.active, r.preview, r.phase = new, old, st.ANALYSING  # old colour stays up as preview: instant rollback
        r.record("promoted", colour=new, switch_ms=sw.total_ms, release_ms=sw.release_ms, join_ms=sw.join_ms,
                 pause_ms=sw.pause_ms, switch_started_at=sw.started_at, switch_done_at=sw.done_at, killed_old=sw.killed_old,
                 timeline=sw.timeline)
        args = [sys.executable, "-m", "ufctl.rollout.watch", service]
        if analysis_s is not None:
            args += ["--duration-s", str(analysis_s)]
        with open(VAR / "log" / f"rollout-{service}.log", "ab") as log:
            proc = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        r.analysis_pid = proc.pid
        st.save(r)
    events.step(r, "promoted", switch_ms=sw.total_ms)
    return r, sw


def roll_back(r: Rollout, *, phase: str, reason: str, detected_after_ms: int | None = None,
              triggers: list[str] | None = None) -> handover.Switch:
    """Partitions back to the colour that was active before the promotion (caller holds the lock).
    An automatic rollback passes what the analysis found; it is recorded in the same save as the
    phase, so nobody reading the status sees RolledBack without its triggers."""
    new, old = r.active, r.preview
    if old is None or not launcher.colour_running(r.service, old):
        raise CliError(f"{r.service}: the previous colour is not running; cannot roll back")
    sw = handover.switch(r.service, new, old)
    launcher.stop_colour(r.service, new)
    r.active, r.preview, r.phase = old, None, phase
    found = ({} if detected_after_ms is None else
             {"detected_after_ms": detected_after_ms, "rollback_done_after_ms": detected_after_ms + sw.total_ms,
              "triggers": list(triggers or [])})
    r.record("rolled-back" if phase == st.ROLLED_BACK else "aborted", colour=old, reason=reason, switch_ms=sw.total_ms,
             pause_ms=sw.pause_ms, killed_new=sw.killed_old, **found)
    st.save(r)
    events.step(r, "rolled-back" if phase == st.ROLLED_BACK else "aborted", reason=reason, switch_ms=sw.total_ms)
    return sw


def complete(r: Rollout) -> None:
    """Analysis passed: scale the old colour down (caller holds the lock)."""
    if r.preview:
        launcher.stop_colour(r.service, r.preview)
    r.preview, r.phase = None, st.COMPLETED
    r.record("completed")
    st.save(r)
    events.step(r, "completed")


def abort(service: str) -> Rollout:
    _check_service(service)
    with st.locked(service):
        r = st.load(service)
        if not r or r.phase not in st.IN_PROGRESS:
            raise CliError(f"no rollout of {service} in progress (phase: {r.phase if r else 'none'})")
        if r.phase == st.PREVIEW:
            if r.preview:
                launcher.stop_colour(service, r.preview)  # it never consumed: production untouched
            r.preview, r.phase = None, st.ABORTED
            r.record("aborted", reason="operator abort during preview")
            st.save(r)
            events.step(r, "aborted", reason="operator abort during preview")
            return r
        if r.analysis_pid:
            try:
                os.kill(r.analysis_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        roll_back(r, phase=st.ABORTED, reason="operator abort after promotion")
        return r

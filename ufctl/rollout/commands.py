"""`ufctl rollout start|promote|abort|status` (see controller.py)."""
from __future__ import annotations

import argparse
import json

from ufctl.errors import CliError
from ufctl.rollout import controller
from ufctl.rollout import state as st


def cmd_start(args: argparse.Namespace) -> int:
    r = controller.start(args.service, args.version, args.fault or "")
    print(f"{r.service}: {r.preview} {args.version} up as preview beside {r.active} ({r.rollout_id})"
          + (f" with test fault {args.fault}" if args.fault else ""))
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    r, sw = controller.promote(args.service, args.analysis_s)
    print(f"{r.service}: {r.active} promoted; partitions handed over in {sw.total_ms} ms "
          f"(release {sw.release_ms} ms, join {sw.join_ms} ms; no consumer for {sw.pause_ms} ms); analysis running")
    return 0


def cmd_abort(args: argparse.Namespace) -> int:
    r = controller.abort(args.service)
    print(f"{r.service}: rollout aborted; {r.active} active")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    r = st.load(args.service)
    if r is None:
        raise CliError(f"no rollout of {args.service} recorded")
    status = r.as_status()
    if args.json:
        print(json.dumps(status))
        return 0
    print(f"{r.service}: {r.phase}  active={r.active} ({r.versions.get(r.active, '?')})"
          + (f"  preview={r.preview} ({r.versions.get(r.preview, '?')})" if r.preview else ""))
    for h in r.history:
        extra = {k: v for k, v in h.items() if k not in ("at", "step", "phase")}
        print(f"  {h['at']}  {h['step']:<12} {extra}")
    if r.analysis:
        last = r.analysis[-1]
        print(f"  last analysis ({len(r.analysis)} rounds): {last['verdict']} "
              + ", ".join(f"{m['trigger']}={m['value']}" for m in last["measurements"]))
    return 0


def add_rollout_commands(sub: argparse._SubParsersAction) -> None:
    ro = sub.add_parser("rollout", help="blue-green rollouts of a Kafka consumer service").add_subparsers(
        dest="rollout_command", required=True)
    s = ro.add_parser("start", help="start the other colour of SERVICE as preview (consumes nothing)")
    s.add_argument("service")
    s.add_argument("--version", required=True)
    s.add_argument("--fault", choices=controller.FAULTS, help="test-only (UF_TEST_FAULTS=1): make the new colour faulty")
    s.set_defaults(func=cmd_start)
    s = ro.add_parser("promote", help="hand the partitions over to the preview colour; automatic analysis follows")
    s.add_argument("service")
    s.add_argument("--analysis-s", type=float, help="analysis duration (default: monitoring/rollout-analysis.yaml)")
    s.set_defaults(func=cmd_promote)
    s = ro.add_parser("abort", help="stop a preview, or roll a promoted colour back")
    s.add_argument("service")
    s.set_defaults(func=cmd_abort)
    s = ro.add_parser("status", help="phase, colours, analysis rounds and history of the service's rollout")
    s.add_argument("service")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)

"""The analysis after a promotion, as a detached process (`ufctl rollout promote` starts it):
every `interval_s` it measures the new colour against the triggers; a failed round - or
`inconclusive_limit` rounds in a row that could not be measured - rolls back by itself; after
`duration_s` without a failure the rollout completes and the old colour is scaled down.
Every round is recorded in the rollout's status and as a `RolloutAnalysisRecorded` event."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from services.kit.security import kafka_auth
from ufctl.rollout import analysis, controller, events
from ufctl.rollout import state as st

log = logging.getLogger("ufctl.rollout.watch")


def watch(service: str, duration_s: float | None = None) -> str:
    plan = analysis.load_plan()
    duration = plan.duration_s if duration_s is None else duration_s
    r = st.load(service)
    if r is None:
        return "none"
    promoted_at = next((h["at"] for h in reversed(r.history) if h["step"] == "promoted"), st.now_ms())
    started = time.monotonic()
    inconclusive = 0
    while True:
        time.sleep(plan.interval_s)
        with st.locked(service):
            r = st.load(service)
            if r is None or r.phase != st.ANALYSING:
                return r.phase if r else "none"  # aborted meanwhile
            colour = r.active
            verdict, measurements = analysis.measure(plan, analysis.local_selector(service, colour))
            inconclusive = inconclusive + 1 if verdict == analysis.INCONCLUSIVE else 0
            r.analysis.append({"at": st.now_ms(), "colour": colour, "version": r.versions.get(colour, ""),
                               "verdict": verdict, "measurements": measurements})
            st.save(r)
            events.analysis(r, colour, verdict, measurements)
            failed = [m for m in measurements if m["result"] == analysis.FAIL]
            if failed or inconclusive >= plan.inconclusive_limit:
                reason = ("; ".join(f"{m['trigger']}={m['value']:.4g}>{m['threshold']:g}" for m in failed)
                          if failed else f"{inconclusive} inconclusive analysis rounds")
                detected_ms = st.now_ms() - promoted_at
                sw = controller.roll_back(r, phase=st.ROLLED_BACK, reason=reason, detected_after_ms=detected_ms,
                                          triggers=[m["trigger"] for m in failed])
                log.warning("rolled back %s: %s (detected %d ms after promotion, switch %d ms)",
                            service, reason, detected_ms, sw.total_ms)
                return st.ROLLED_BACK
            if time.monotonic() - started >= duration:
                controller.complete(r)
                return st.COMPLETED


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    p = argparse.ArgumentParser(description="rollout analysis of one service (started by ufctl rollout promote)")
    p.add_argument("service")
    p.add_argument("--duration-s", type=float)
    args = p.parse_args(argv)
    # the same Kafka principal as the `ufctl` that started it (it records the rollout's steps)
    kafka_auth.configure_kafka_identity(os.environ.get("UF_KAFKA_PRINCIPAL") or "ufctl")
    outcome = watch(args.service, args.duration_s)
    log.info("analysis of %s ended: %s", args.service, outcome)
    return 0


if __name__ == "__main__":
    sys.exit(main())

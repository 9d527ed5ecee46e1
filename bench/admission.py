"""Cost of zero-trust admission per consumed record (no servers): what every consumer pays
before its handler runs - Avro decode alone (before issue 9) vs signature verification +
declaration checks + decode (after). CPU time of this process (`time.process_time`, i.e.
/proc utime+stime), N records of a real event with a realistic key and headers.

    nice .venv/bin/python bench/admission.py [N]
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.kit.contracts import codec, topics
from services.kit.contracts.events import Origin, make_event
from services.kit.contracts.topics import load_topics
from services.kit.security.admission import Admission
from services.kit.security.signing import Signer, TrustStore


def records(n: int, signer: Signer) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    out = []
    for i in range(n):
        wf = f"wf-bench-{i:06d}"
        value = codec.encode(make_event("WorkflowPhaseChanged", origin=Origin("orchestrator", "1", "blue"), workflow_id=wf,
                                        session_id="s", correlation_id=wf, from_phase="REVIEW", to_phase="DELIVERY",
                                        reason="allowed", decision_id="d"))
        out.append((wf.encode(), value, signer.headers(topics.WORKFLOW_EVENTS, wf.encode(), value)))
    return out


def cpu_us_per_record(fn, recs) -> float:
    started = time.process_time()
    for key, value, headers in recs:
        fn(key, value, headers)
    return (time.process_time() - started) / len(recs) * 1e6


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    signer = Signer("orchestrator", Ed25519PrivateKey.generate())
    trust = TrustStore(Path("/nonexistent"))
    trust.add(signer.key_id, signer.private.public_key())
    gate = Admission(load_topics(), trust)
    recs = records(n, signer)
    t = topics.WORKFLOW_EVENTS

    def before(key, value, headers):
        codec.decode(value)

    def after(key, value, headers):
        who = gate.signer(t, key, value, headers)
        gate.authorize(t, who, codec.decode(value).event_type)

    cpu_us_per_record(after, recs[:200])  # warm-up
    b, a = cpu_us_per_record(before, recs), cpu_us_per_record(after, recs)
    print(f"admission bench: {n} records of {len(recs[0][1])} bytes, CPU per record")
    print(f"  decode only (before):                 {b:7.1f} us")
    print(f"  verify + authorise + decode (after):  {a:7.1f} us   (+{a - b:.1f} us, {a / b:.1f}x)")


if __name__ == "__main__":
    main()

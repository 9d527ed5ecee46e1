"""CPU of delivery's "is this what was approved?" check (services/delivery/approval.py), in
process, no Kafka: for one campaign of N emails, the attestation check per request, indexing the
approved record once (decode, signature, emails by delivery id - what the reader caches per
position), and the per-request comparison (open the one approved email, compare its fields).
The Kafka read of the record (once per campaign and process) is not included; the integration
run (tests/integration/test_delivery_approval.py) exercises it.

    nice .venv/bin/python bench/delivery_approval.py [EMAILS]
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.delivery.approval import LogRecord, check_content, check_request, index_record, review_ingresses
from services.kit.contracts import codec
from services.kit.contracts.events import Origin, make_event
from services.kit.contracts.topics import load_topics
from services.kit.security import attestation, signing
from services.kit.security.admission import Admission
from services.kit.security.sealing import seal_blob
from tests.unit.memory_keys import MemoryKeys

WF = "wf-bench-approval"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    trust = signing.TrustStore(Path(tempfile.mkdtemp()))
    orch, ufctl = (signing.Signer(s, Ed25519PrivateKey.generate()) for s in ("orchestrator", "ufctl"))
    for s in (orch, ufctl):
        trust.add(s.key_id, s.private.public_key())
    admission, keys = Admission(load_topics(), trust), MemoryKeys()
    emails = [{"delivery_id": f"d-{i}", "subject_id": f"s-{i}", "recipient": f"r{i}@example.org", "sender": "news@example.com",
               "subject": "Winter launch", "body": f"Dear customer {i}, " + "lorem ipsum " * 40, "template": "t"}
              for i in range(n)]
    origin = Origin("orchestrator", "1", "blue")
    ev = make_event("AgentTaskCompleted", origin=origin, workflow_id=WF, session_id="s", correlation_id=WF, task_id="t",
                    phase="GENERATION", agent="gen", ok=True, output_json=json.dumps({"emails": seal_blob(keys, emails)}))
    value = codec.encode(ev)
    rec = LogRecord("uf.agent.results", 0, 1, 1_700_000_000_000, WF.encode(), value,
                    tuple(orch.headers("uf.agent.results", WF.encode(), value)))
    content = attestation.ReviewedContent(rec.topic, rec.partition, rec.offset, rec.sha256())
    text = attestation.statement(WF, True, "alice", ["reviewer"], 1, content, "2026.12.1")
    key_id, sig = attestation.sign(ufctl, text)
    requests = [{**make_event("DeliveryRequested", origin=origin, workflow_id=WF, session_id="s", correlation_id=WF,
                              **{k: v for k, v in e.items() if k != "template"}),
                 "approved_by": "alice", "approved_content": content.as_dict(), "attestation": text,
                 "attestation_key_id": key_id, "attestation_signature": sig} for e in emails]
    ingresses = review_ingresses(admission)

    t0 = time.process_time()
    approved = index_record(rec, admission)
    t_index = time.process_time() - t0
    t0 = time.process_time()
    for req in requests:
        c = check_request(req, trust, ingresses)
        check_content(req, c, approved, keys)
    t_each = time.process_time() - t0
    print(f"emails {n}, approved record {len(value) / 1024:.0f} KiB")
    print(f"index the approved record once: {t_index * 1000:.1f} CPU-ms")
    print(f"check per request (attestation + open and compare one email): {t_each / n * 1000:.3f} CPU-ms")
    print(f"per email including its share of the index: {(t_index + t_each) / n * 1000:.3f} CPU-ms")


if __name__ == "__main__":
    main()

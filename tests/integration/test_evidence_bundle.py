"""Evidence an auditor verifies offline, on the real stack: `ufctl audit export` writes a bundle,
`python -m uf_verify` (stdlib + cryptography, no service code) says VERIFIED for it and fails
for any altered, missing or added byte (witness cosignatures included); `ufctl audit redecide`
re-makes every decision."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from aiokafka.partitioner import murmur2

from services.kit.contracts import topics
from services.kit.contracts.keys import CHECKPOINT_HEADS
from services.kit.security import redis_auth
from tests.integration import helpers as h
from tests.integration.waiting import eventually

pytestmark = pytest.mark.integration


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=h.ROOT, capture_output=True, text=True, timeout=timeout)


def uf_verify(bundle: Path) -> subprocess.CompletedProcess:
    # Run the verifier the way an auditor would: its own package only, outside the repository.
    return subprocess.run([sys.executable, "-m", "uf_verify", str(bundle)], cwd=bundle.parent, capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(h.ROOT / "libs" / "uf-verify"), "PATH": "/usr/bin:/bin"})


@pytest.fixture(scope="module")
def bundle(suite, tmp_path_factory) -> tuple[str, Path]:
    wf = h.publish(h.campaign())
    assert h.wait_phase(wf)["phase"] == "COMPLETED"
    # More traffic on the workflow's partition afterwards (newer checkpoints there), so the
    # bundle carries consistency proofs from the covering checkpoints to newer heads.
    mine = [m for m in h.read_topic(topics.WORKFLOW_EVENTS) if m.key == wf.encode()]
    partition, last = mine[-1].partition, mine[-1].offset
    r = redis.Redis.from_url(h.SETTINGS.redis_url, **redis_auth.credentials("admin"))

    def head() -> dict:
        raw = r.hget(CHECKPOINT_HEADS, f"{topics.WORKFLOW_EVENTS}:{partition}")
        return json.loads(raw) if raw else {"seq": -1, "last_offset": -1}

    covering = eventually(lambda: head()["last_offset"] >= last and head(), what="the workflow checkpointed")["seq"]
    # A later workflow whose id lands on the same partition (Kafka's default partitioner).
    n = len([tp for tp in h.end_offsets(topics.WORKFLOW_EVENTS)])
    doc = h.campaign()
    base = doc["workflow_id"]
    doc["workflow_id"] = next(f"{base}-{i}" for i in range(100_000)
                              if (murmur2(f"{base}-{i}".encode()) & 0x7FFFFFFF) % n == partition)
    later = h.publish(doc)
    assert h.wait_phase(later)["phase"] == "COMPLETED"
    eventually(lambda: head()["seq"] > covering, what="a newer checkpoint on the workflow's partition")
    # A witness (its own key and state) verifies and cosigns the checkpoints published so far.
    state = tmp_path_factory.mktemp("witness") / "state.json"
    res = run("-m", "ufctl", "audit", "witness", "--state", str(state), "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads(res.stdout)["cosigned"] > 0
    out = tmp_path_factory.mktemp("evidence") / "bundle"
    res = run("-m", "ufctl", "audit", "export", wf, "--out", str(out), "--json", "--wait", "60")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["records"] >= 20 and summary["policies"]
    return wf, out


def test_an_intact_bundle_verifies_offline(bundle):
    _, out = bundle
    res = uf_verify(out)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.strip().splitlines()
    assert lines[-1] == "VERIFIED"
    assert any(line.startswith("checkpoints") and "consistency proof(s) checked" in line for line in lines)
    assert any(line.startswith("witness") and "cosigned" in line for line in lines)
    files = json.loads((out / "MANIFEST.json").read_text())["files"]
    assert {"records.jsonl", "checkpoints.jsonl", "consistency.jsonl"} <= set(files)
    assert any(n.startswith("keys/audit-") for n in files) and any(n.startswith("policies/") for n in files)
    assert (out / "consistency.jsonl").read_text().strip(), "the bundle proves its checkpoints extend each other"


def _copy(out: Path, tmp_path: Path, name: str) -> Path:
    dst = tmp_path / name
    shutil.copytree(out, dst)
    return dst


def test_any_altered_byte_fails(bundle, tmp_path):
    _, out = bundle
    n = 0
    for f in sorted(p for p in out.rglob("*") if p.is_file()):
        data = f.read_bytes()
        for pos in sorted({0, len(data) // 3, len(data) // 2, len(data) - 2}):
            copy = _copy(out, tmp_path, f"alt{n}")
            n += 1
            target = copy / f.relative_to(out)
            b = bytearray(data)
            b[pos] = (b[pos] + 1) % 256 if chr(b[pos]) not in "0123456789abcdef" else ord("0123456789abcdef"[(int(chr(b[pos]), 16) + 1) % 16])
            target.write_bytes(bytes(b))
            res = uf_verify(copy)
            assert res.returncode != 0 and res.stdout.strip().splitlines()[-1] != "VERIFIED", f"{f.name}@{pos} not detected"
            shutil.rmtree(copy)


def test_missing_or_added_files_and_records_fail(bundle, tmp_path):
    _, out = bundle
    gone = _copy(out, tmp_path, "gone")
    next((gone / "keys").glob("*.pub")).unlink()
    assert uf_verify(gone).returncode != 0

    added = _copy(out, tmp_path, "added")
    (added / "notes.txt").write_text("trust me\n")
    res = uf_verify(added)
    assert res.returncode != 0 and "file added" in res.stdout

    # A record taken out, with the manifest "fixed" to match: the records still tell.
    cut = _copy(out, tmp_path, "cut")
    lines = (cut / "records.jsonl").read_text().splitlines(keepends=True)
    phase = next(i for i, line in enumerate(lines) if '"topic":"uf.workflow.events"' in line and i > 0)
    (cut / "records.jsonl").write_text("".join(lines[:phase] + lines[phase + 1:]))
    manifest = json.loads((cut / "MANIFEST.json").read_text())
    manifest["files"]["records.jsonl"] = hashlib.sha256((cut / "records.jsonl").read_bytes()).hexdigest()
    (cut / "MANIFEST.json").write_text(json.dumps(manifest, sort_keys=True, indent=1) + "\n")
    res = uf_verify(cut)
    assert res.returncode != 0 and "missing" in res.stdout


def test_every_recorded_decision_is_re_made_with_the_same_outcome(bundle):
    wf, _ = bundle
    res = run("-m", "ufctl", "audit", "redecide", wf, "--json")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    entries = json.loads(res.stdout)
    assert len(entries) >= 7
    for e in entries:
        assert {"decision_id", "recorded", "recomputed", "same"} <= set(e)
        assert e["same"] is True and e["recomputed"] == e["recorded"]

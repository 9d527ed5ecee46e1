"""`make run`: bring up the whole suite, run the example campaign end to end, show what
happened (timeline from OpenSearch, emails at the SMTP sink), stop what it started."""
from __future__ import annotations

import argparse
import email
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, check=check, text=True, capture_output=False)


def ufctl(*args: str) -> str:
    res = subprocess.run([PY, "-m", "ufctl", *args], cwd=ROOT, text=True, capture_output=True)
    if res.returncode != 0:
        raise SystemExit(f"run: `ufctl {' '.join(args)}` failed: {res.stderr.strip()}")
    return res.stdout.strip()


def timeline_when_complete(workflow_id: str, final_phase: str, timeout_s: float = 30) -> str:
    """The trail becomes searchable within OpenSearch's refresh interval (1 s) after the
    workflow ends: wait until it shows the final phase (bounded), then print it."""
    deadline = time.monotonic() + timeout_s
    while True:
        res = subprocess.run([PY, "-m", "ufctl", "audit", "show", workflow_id, "--json"], cwd=ROOT, text=True, capture_output=True)
        if res.returncode == 0 and any(e.get("phase") == final_phase for e in json.loads(res.stdout)):
            break
        if time.monotonic() > deadline:
            break  # print what there is
        time.sleep(0.3)
    return ufctl("audit", "show", workflow_id)


def emails_for(workflow_id: str) -> list[dict[str, str]]:
    found = []
    for path in sorted((ROOT / "var" / "smtp" / "messages").glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes())
        if msg.get("X-UF-Workflow-Id") == workflow_id:
            found.append({"to": msg["To"], "subject": msg["Subject"], "file": str(path.relative_to(ROOT))})
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("request", nargs="?", default=str(ROOT / "examples" / "campaign.json"))
    parser.add_argument("--keep-running", action="store_true", help="leave the stack up afterwards")
    args = parser.parse_args()
    doc = json.loads(Path(args.request).read_text())

    infra_was_up = subprocess.run([PY, "infra/stack.py", "status"], cwd=ROOT, capture_output=True).returncode == 0
    services_were_up = subprocess.run([PY, "-m", "services.launcher", "status"], cwd=ROOT, capture_output=True).returncode == 0
    try:
        if sh(PY, "infra/stack.py", "up", check=False).returncode != 0:
            print("run: the local stack did not start; see var/log/ and `python3 infra/stack.py status`", file=sys.stderr)
            return 1
        if sh(PY, "-m", "services.kit.contracts.topics", check=False).returncode != 0:
            return 1
        if sh(PY, "-m", "services.launcher", "up", check=False).returncode != 0:
            print("run: services did not become ready; see var/log/<service>.log", file=sys.stderr)
            return 1

        # In production these come from the identity provider and the consent platform.
        ufctl("session", "start", "--user", doc["requester_id"], "--session", doc["session_id"])
        ufctl("consent", "grant", "--purpose", doc["purpose"], *[a for c in doc["contacts"] for a in ("--subject", c["subject_id"])])

        started = time.monotonic()
        workflow_id = ufctl("publish", args.request)
        print(f"\nrun: published workflow {workflow_id}")
        status = json.loads(ufctl("status", workflow_id, "--json", "--wait", "90"))
        elapsed = time.monotonic() - started
        print(f"run: workflow {workflow_id} is {status['phase']} after {elapsed:.1f}s\n")
        print("Timeline (from OpenSearch):")
        print(timeline_when_complete(workflow_id, status["phase"]))
        sent = emails_for(workflow_id)
        print(f"\nEmails at the SMTP sink ({len(sent)}):")
        for e in sent:
            print(f"  to {e['to']:<28} {e['subject']!r}  -> {e['file']}")
        if status["phase"] != "COMPLETED":
            print(f"run: workflow ended {status['phase']}: {status.get('reason')}", file=sys.stderr)
            return 1
        return 0
    finally:
        if not args.keep_running:
            if not services_were_up:
                sh(PY, "-m", "services.launcher", "down", check=False)
            if not infra_was_up:
                sh(PY, "infra/stack.py", "down", check=False)


if __name__ == "__main__":
    sys.exit(main())

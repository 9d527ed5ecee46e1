"""OpenSearch start-up with and without the security plugin, on this machine, now.

Starts the local stack's embedded node (infra/stack.py's command, the same heap) twice in a
throw-away var dir on spare ports - once as `make up` does (security plugin, TLS, a fresh
configuration index) and once without the plugin (plain HTTP, the pre-issue-9 node) - and prints
the seconds from exec to "cluster yellow/green" (for the plugin: also security initialised and
the roles applied), plus the node's CPU seconds and the load average.

    UF_PORT_OFFSET=<yours> nice -n 10 .venv/bin/python bench/search_startup.py [--runs 1]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_stack(var: Path, port: int):
    os.environ.update({"UF_VAR_DIR": str(var), "UF_ES_PORT": str(port), "UF_ES_TRANSPORT_PORT": str(port + 100),
                       "UF_TLS_DIR": str(ROOT / "var" / "tls")})
    spec = importlib.util.spec_from_file_location("uf_stack_bench", ROOT / "infra" / "stack.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def plain_ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_cluster/health", timeout=3) as r:
            return json.loads(r.read())["status"] in ("yellow", "green")
    except OSError:
        return False


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one(secure: bool, port: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="uf-search-bench-") as tmp:
        stack = load_stack(Path(tmp), port)
        cfg = stack.Config()
        cmd = stack.search_command(cfg)
        if not secure:
            i = cmd.index("--modules") + 1
            cmd[i] = ",".join(m for m in cmd[i].split(",") if "security" not in m)
            (cfg.conf / "opensearch" / "opensearch.yml").write_text("# no security plugin\n")
        t0 = time.monotonic()
        with open(Path(tmp) / "node.log", "wb") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            while True:
                ok = stack.search_probe(port)[0] if secure else plain_ready(port)
                if ok:
                    if secure:
                        stack.after_ready(cfg, "opensearch")
                    took = time.monotonic() - t0
                    return took, cpu_seconds(proc.pid)
                if proc.poll() is not None or time.monotonic() - t0 > 600:
                    raise SystemExit(f"node did not start (see {tmp}/node.log):\n" + (Path(tmp) / "node.log").read_text()[-2000:])
                time.sleep(0.5)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from services.kit.runtime import service_table as table

    port = table.ELASTICSEARCH_PORT + 7  # beside the stack's own node
    for run in range(args.runs):
        for secure in (False, True):
            load = os.getloadavg()
            took, cpu = one(secure, port)
            print(f"run {run + 1} {'with' if secure else 'without'} security plugin: ready in {took:.1f} s, "
                  f"node CPU {cpu:.1f} s, load average before {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

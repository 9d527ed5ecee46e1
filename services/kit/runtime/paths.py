"""Where the suite's files are: the one place that derives the repository root.

In a checkout the root is two levels above `services/`; in an image it is the working directory
the Dockerfile sets (`UF_ROOT` overrides both). Mutable state (keys, logs, pid files, data) lives
under `UF_VAR_DIR`, which an image mounts writable while the code stays read-only."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(os.environ.get("UF_ROOT") or Path(__file__).resolve().parents[3])
VAR = Path(os.environ.get("UF_VAR_DIR") or ROOT / "var")
KEYS = VAR / "keys"
SCHEMAS = ROOT / "schemas"
POLICIES = ROOT / "policies"
PROTOS = ROOT / "protos"
TOPICS_FILE = ROOT / "infra" / "topics.yaml"
RPC_STUBS = ROOT / "services" / "kit" / "rpc"

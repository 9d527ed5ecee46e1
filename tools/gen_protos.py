"""Generate the Python gRPC stubs in `services/kit/rpc/` from `protos/` (`make protos`).

`--check` regenerates into a temporary folder and fails if the committed stubs differ, so CI
catches a proto edited without regenerating.
"""
from __future__ import annotations

import filecmp
import re
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

from services.kit.runtime.paths import PROTOS, ROOT
from services.kit.runtime.paths import RPC_STUBS as OUT


def generate(out: Path) -> list[Path]:
    files = sorted(PROTOS.rglob("*.proto"))
    with tempfile.TemporaryDirectory() as tmp:
        args = ["protoc", f"-I{PROTOS}", f"--python_out={tmp}", f"--pyi_out={tmp}", f"--grpc_python_out={tmp}"]
        if protoc.main(args + [str(f) for f in files]) != 0:
            raise SystemExit("protoc failed")
        written = []
        for src in sorted(Path(tmp).rglob("*_pb2*.py*")):
            text = src.read_text()
            # protoc writes `from uf.v1 import x_pb2`; make it relative to our package.
            text = re.sub(r"^from uf\.v1 import (\w+_pb2)", r"from . import \1", text, flags=re.M)
            dest = out / src.name
            dest.write_text(text)
            written.append(dest)
        return written


def main() -> int:
    if "--check" in sys.argv:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = generate(Path(tmp))
            stale = [p.name for p in fresh if not (OUT / p.name).exists() or not filecmp.cmp(p, OUT / p.name, shallow=False)]
        if stale:
            print(f"protos-check: stale stubs {stale}; run `make protos`", file=sys.stderr)
            return 1
        print(f"protos-check: {len(fresh)} generated files are fresh")
        return 0
    for p in generate(OUT):
        print(f"wrote {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

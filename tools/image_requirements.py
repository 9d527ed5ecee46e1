"""The Python requirements of a service image, derived from the two pyproject files (stdlib only:
it runs inside the Dockerfile's dependency stage before anything is installed).

Why not `pip install .`: the dependency layer must change only when the lock changes, so it is
built from pyproject.toml + constraints.txt alone, before any code is copied; the code then sits
on PYTHONPATH (`/app`, `/app/libs/uf-pii`), which also lets `skaffold dev` sync edited files.

    python3 tools/image_requirements.py            # every service image (no spaCy)
    python3 tools/image_requirements.py --nlp      # the extra layer of the pii image (uf-pii's [nlp] extra)
"""
from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Never in a service image, with the reason.
EXCLUDED = {
    "uf-pii": "the library itself is copied as code (libs/uf-pii on PYTHONPATH)",
    "grpcio-tools": "stub generation only (`make protos`); the stubs are committed",
    "aiosmtpd": "the local SMTP sink (infra/smtp_sink.py) only; images send, they do not receive",
}


def _name(req: str) -> str:
    return re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0].lower().replace("_", "-")


def requirements(nlp: bool, root: Path = ROOT) -> list[str]:
    """Core requirements (nlp=False) or only the NLP ones (nlp=True); pins come from constraints."""
    app = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    lib = tomllib.loads((root / "libs" / "uf-pii" / "pyproject.toml").read_text())["project"]
    nlp_extra = lib["optional-dependencies"]["nlp"]
    nlp_names = {_name(r) for r in nlp_extra}  # the library's NLP extra: only in the pii image
    reqs = [*app["dependencies"], *lib["dependencies"], *nlp_extra]
    chosen: dict[str, str] = {}
    for req in reqs:
        name = _name(req)
        if name in EXCLUDED or (name in nlp_names) != nlp:
            continue
        chosen.setdefault(name, req.split(";")[0].strip())
    return sorted(chosen.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nlp", action="store_true", help="only spaCy and its model (pii image layer)")
    args = parser.parse_args(argv)
    sys.stdout.write("".join(f"{r}\n" for r in requirements(args.nlp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

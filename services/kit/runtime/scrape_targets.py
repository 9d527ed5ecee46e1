"""Prometheus file-based service discovery for the local suite (stdlib only: `infra/stack.py`
reads the directory before the virtualenv exists).

Why files: Prometheus re-reads `<VAR>/run/prometheus-targets/*.json` on change, so the launcher
announces each service *instance* as it starts and withdraws it as it stops - several replicas
or two colours of one service need no Prometheus restart. Each file holds one target with the
labels every metric also carries (service, colour, version), so even `up` is comparable by colour.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from services.kit.runtime.paths import VAR
from services.kit.runtime.service_table import HOST

TARGETS_DIR = VAR / "run" / "prometheus-targets"


def target_file(instance: str) -> Path:
    return TARGETS_DIR / f"{instance}.json"


def announce(instance: str, *, service: str, port: int, colour: str, version: str) -> Path:
    """Write (atomically) the scrape target of one running instance, e.g. `validator` or `validator-2`."""
    TARGETS_DIR.mkdir(parents=True, exist_ok=True)
    doc = [{"targets": [f"{HOST}:{port}"],
            "labels": {"service": service, "colour": colour, "version": version, "uf_instance": instance}}]
    path = target_file(instance)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def withdraw(instance: str) -> None:
    target_file(instance).unlink(missing_ok=True)

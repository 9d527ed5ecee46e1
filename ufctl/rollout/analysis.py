"""The rollout's automatic analysis: the trigger queries of monitoring/rollout-analysis.yaml
against the suite's Prometheus (HTTP API, instant queries) for the new colour."""
from __future__ import annotations

import json
import math
import os
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from services.kit.runtime import service_table
from services.kit.runtime.paths import ROOT

TRIGGERS_FILE = ROOT / "monitoring" / "rollout-analysis.yaml"
PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
_RANK = {PASS: 0, INCONCLUSIVE: 1, FAIL: 2}


@dataclass(frozen=True)
class Trigger:
    name: str
    query: str       # with $SEL (label selector of the instance under analysis) and $WINDOW
    max: float
    no_data: str = PASS

    def render(self, selector: str, window: str) -> str:
        return self.query.replace("$SEL", selector).replace("$WINDOW", window)


@dataclass(frozen=True)
class Plan:
    interval_s: float
    duration_s: float
    inconclusive_limit: int
    window: str
    triggers: tuple[Trigger, ...]


def load_plan(path: Path = TRIGGERS_FILE) -> Plan:
    raw = yaml.safe_load(path.read_text())
    triggers = tuple(Trigger(t["name"], " ".join(str(t["query"]).split()), float(t["max"]), t.get("no_data", PASS))
                     for t in raw["triggers"])
    return Plan(float(raw["interval_s"]), float(raw["duration_s"]), int(raw["inconclusive_limit"]), str(raw["window"]),
                triggers)


def local_selector(service: str, colour: str) -> str:
    return f'service="{service}",colour="{colour}"'


def prometheus_url() -> str:
    return os.environ.get("UF_PROMETHEUS_URL") or service_table.PROMETHEUS_URL


def instant(query: str, url: str | None = None, timeout_s: float = 5.0) -> float | None:
    """One instant query; the first sample's value, or None when the answer is empty or NaN."""
    q = urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(f"{url or prometheus_url()}/api/v1/query?{q}", timeout=timeout_s) as resp:
        body: dict[str, Any] = json.loads(resp.read())
    if body.get("status") != "success":
        raise RuntimeError(f"prometheus: {body.get('error', 'query failed')}")
    result = body["data"]["result"]
    if not result:
        return None
    value = float(result[0]["value"][1])
    return None if math.isnan(value) or math.isinf(value) else value


def measure(plan: Plan, selector: str, url: str | None = None) -> tuple[str, list[dict[str, Any]]]:
    """One analysis round: every trigger's value and result, and the round's verdict (the worst)."""
    out: list[dict[str, Any]] = []
    for t in plan.triggers:
        try:
            value = instant(t.render(selector, plan.window), url)
        except Exception as exc:  # Prometheus unreachable or the query refused: cannot tell
            out.append({"trigger": t.name, "value": None, "threshold": t.max, "result": INCONCLUSIVE,
                        "error": exc.__class__.__name__})
            continue
        result = (t.no_data if value is None else FAIL if value > t.max else PASS)
        out.append({"trigger": t.name, "value": value, "threshold": t.max, "result": result})
    verdict = max((m["result"] for m in out), key=_RANK.__getitem__, default=PASS)
    return verdict, out

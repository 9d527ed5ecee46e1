"""Dependencies point one way: services -> kit -> (nothing of ours); libraries import no service.

A service importing another service, or the kit importing a service, couples deploy units that
must roll out independently (blue-green per service); this test makes the rule a failure."""
from __future__ import annotations

import ast
from pathlib import Path

from services.kit.runtime.paths import ROOT

SERVICES = ("orchestrator", "validator", "pii", "audit", "delivery")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
            found += [f"{node.module}.{a.name}" for a in node.names]
    return found


def _owner(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "services" and len(parts) > 1:
        return parts[1] if parts[1] in (*SERVICES, "kit", "launcher") else None
    if parts[0] in ("uf_pii", "tools", "ufctl", "bench", "tests"):
        return parts[0]
    return None


def _violations() -> list[str]:
    bad = []
    for path in sorted((ROOT / "services").rglob("*.py")) + sorted((ROOT / "libs").rglob("*.py")):
        rel = path.relative_to(ROOT)
        parts = rel.parts
        me = "uf_pii" if parts[0] == "libs" else (parts[1] if len(parts) > 2 else "launcher")
        for module in _imports(path):
            target = _owner(module)
            if target is None or target == me:
                continue
            if me == "uf_pii" and target != "uf_pii":
                bad.append(f"{rel}: library imports {module}")
            elif me == "kit" and target != "uf_pii":
                bad.append(f"{rel}: the kit imports {module}")
            elif me in SERVICES and target not in ("kit", "uf_pii"):
                bad.append(f"{rel}: service {me} imports {module}")
            elif me == "launcher" and target in SERVICES:
                bad.append(f"{rel}: the launcher imports {module}")
    return bad


def test_services_import_only_the_kit_and_libraries():
    assert _violations() == []


def test_tests_of_units_need_no_integration_helpers():
    bad = [str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "unit").rglob("*.py")
           if any(m.startswith("tests.integration") for m in _imports(p))]
    assert bad == []


def test_the_rule_catches_a_cross_service_import(tmp_path):
    """The checker itself must see a violation when one exists (a test that cannot fail is no test)."""
    assert _owner("services.audit.live.projections") == "audit"
    assert _owner("services.kit.contracts.keys") == "kit"
    assert _owner("uf_pii.log_filter") == "uf_pii"
    bad = tmp_path / "x.py"
    bad.write_text("from services.audit.live import projections\nimport services.validator.store\n")
    assert {"services.audit.live", "services.validator.store"} <= set(_imports(bad))

"""strip_pii: what reaches the long-lived projections has no PII-marked field, at any depth, and
everything else unchanged - the pruned walk answers exactly as a walk over every field does."""
from __future__ import annotations

import random
from typing import Any

from services.kit.contracts.catalog import default_catalog, strip_pii


def full_walk(record: dict[str, Any], paths: frozenset[str]) -> dict[str, Any]:
    """The reference: every field of every branch visited and copied."""
    def walk(value: Any, prefix: str) -> Any:
        if isinstance(value, dict) and not prefix.endswith("{}"):
            return {k: walk(v, f"{prefix}.{k}" if prefix else k) for k, v in value.items()
                    if (f"{prefix}.{k}" if prefix else k) not in paths}
        if isinstance(value, list):
            return [walk(v, prefix + "[]") for v in value]
        return value
    out: dict[str, Any] = walk(record, "")
    return out


def workflow_requested() -> dict[str, Any]:
    return {"envelope": {"event_id": "e1", "event_type": "WorkflowRequested"}, "auth_token": "tok",
            "campaign": {"subject": "Hi Ann", "variables": {"name": "Ann"}, "template": "t1"},
            "contacts": [{"subject_id": "s1", "email": "ann@example.com", "name": "Ann"},
                         {"subject_id": "s2", "email": "bob@example.com", "name": "Bob"}],
            "requester_id": "u1"}


def test_every_pii_field_goes_and_the_rest_stays() -> None:
    paths = default_catalog().latest("WorkflowRequested").pii_paths
    assert {"contacts[].email", "campaign.subject", "auth_token"} <= paths
    out = strip_pii(workflow_requested(), paths)
    assert "auth_token" not in out
    assert out["campaign"] == {"template": "t1"}
    assert out["contacts"] == [{"subject_id": "s1"}, {"subject_id": "s2"}]
    assert out["requester_id"] == "u1" and out["envelope"]["event_id"] == "e1"


def test_the_top_level_is_a_new_dict_even_without_pii_paths() -> None:
    record = {"envelope": {"event_id": "e1"}, "x": 1}
    out = strip_pii(record, frozenset())
    out.pop("envelope")  # the projection pops the envelope off its copy
    assert record == {"envelope": {"event_id": "e1"}, "x": 1}


def _value(rng: random.Random, names: list[str], depth: int) -> Any:
    kind = rng.random()
    if depth > 3 or kind < 0.4:
        return rng.choice([1, "v", None, True, 2.5])
    if kind < 0.7:
        return [_value(rng, names, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(names): _value(rng, names, depth + 1) for _ in range(rng.randint(0, 4))}


def test_pruned_walk_equals_the_full_walk_on_random_records() -> None:
    rng = random.Random(7)
    names = ["a", "b", "c", "email", "name", "ab"]
    for _ in range(2000):
        paths = frozenset(rng.choice(["a", "a.b", "b[].email", "c.a", "ab", "a.b[].name", "c{}", "b[][].c", "c.ab.email"])
                          for _ in range(rng.randint(0, 4)))
        record = {rng.choice(names): _value(rng, names, 0) for _ in range(rng.randint(1, 5))}
        assert strip_pii(record, paths) == full_walk(record, paths), (record, sorted(paths))

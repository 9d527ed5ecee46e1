"""Policy files: strict loading with clear errors, immutable versions, hot reload."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import yaml

from services.validator.config import ValidatorSettings
from services.validator.policy.loader import PolicyError, PolicyLibrary, load_policy_file

BASELINE = Path(ValidatorSettings().policy_dir) / "2026.11.1.yaml"


def write(tmp: Path, version: str, **changes) -> Path:
    doc = yaml.safe_load(BASELINE.read_text())
    doc.update(version=version, **changes)
    path = tmp / f"{version}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_shipped_policy_loads():
    assert load_policy_file(BASELINE).policy.version == "2026.11.1"


@pytest.mark.parametrize(("changes", "message"), [
    ({"rules": {"INITIALIZATION": ["nope"]}}, "unknown rule"),
    ({"rules": {"NOT_A_PHASE": []}}, "rules.NOT_A_PHASE"),
    ({"surprise": 1}, "surprise"),
    ({"thresholds": {"max_classification": {"DELIVERY": "TOP_SECRET"}}}, "max_classification"),
    ({"lists": {"purposes_allowed": []}}, "purposes_allowed"),
])
def test_invalid_policies_fail_at_load_naming_file_and_field(tmp_path, changes, message):
    with pytest.raises(PolicyError) as exc:
        load_policy_file(write(tmp_path, "9.9", **changes))
    assert "9.9.yaml" in str(exc.value) and message in str(exc.value)


def test_file_name_must_match_version_and_yaml_must_parse(tmp_path):
    path = write(tmp_path, "1.0")
    path.rename(tmp_path / "other.yaml")
    with pytest.raises(PolicyError, match="file name"):
        load_policy_file(tmp_path / "other.yaml")
    (tmp_path / "broken.yaml").write_text("rules: [unclosed")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy_file(tmp_path / "broken.yaml")


def test_library_hot_reload_keeps_versions_immutable(tmp_path):
    shutil.copy(BASELINE, tmp_path / BASELINE.name)
    lib = PolicyLibrary(tmp_path)
    assert lib.refresh() == ["loaded 2026.11.1"]
    write(tmp_path, "2026.12.1")
    assert lib.refresh() == ["loaded 2026.12.1"]
    original = lib.versions["2026.12.1"].sha256
    time.sleep(0.01)
    write(tmp_path, "2026.12.1", description="edited in place")
    changes = lib.refresh()
    assert changes and changes[0].startswith("rejected") and "immutable" in changes[0]
    assert lib.versions["2026.12.1"].sha256 == original, "the loaded content stays in force"


async def test_campaign_goals_belong_to_the_policy():
    """A goal the policy does not list is denied by `policy_check`, whatever the strategy agent
    knows; a policy that lists a new goal allows it (a replacement agent can then serve it)."""
    import json

    from services.kit.rpc import validator_pb2
    from services.validator.rules import RULES, Context

    policy = load_policy_file(Path(ValidatorSettings().policy_dir) / "2026.12.0.yaml").policy

    def ctx(goal: str, pol) -> Context:
        snap = validator_pb2.WorkflowSnapshot(workflow_id="w", purpose="marketing",
                                              facts={"goal": json.dumps(goal), "sender_domain": json.dumps("example.com")})
        return Context(validator_pb2.ValidateTransitionRequest(snapshot=snap, target_phase="STRATEGY_ANALYSIS"), pol, None)  # type: ignore[arg-type]

    check = RULES.get("policy_check")
    assert (await check(ctx("promotion", policy)))[0]
    allowed, reason = await check(ctx("spam", policy))
    assert not allowed and "goal" in reason
    wider = policy.model_copy(update={"lists": policy.lists.model_copy(update={"campaign_goals": ["spam"]})})
    assert (await check(ctx("spam", wider)))[0]

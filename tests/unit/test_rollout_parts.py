"""Rollout building blocks that need no servers: the role file (Downward API format, fail
closed), the fault gate, the trigger queries and the local rollout record."""
from __future__ import annotations

import asyncio

import pytest

from services.kit.runtime import faults, role
from ufctl.rollout import analysis
from ufctl.rollout import state as st


def test_role_file_round_trip_keeps_other_labels(tmp_path):
    path = tmp_path / "labels"
    path.write_text('app="orchestrator"\nrollouts-pod-template-hash="5d9f"\nrole="preview"\n')
    assert role.read_role(path) == role.PREVIEW
    role.write_role(path, role.ACTIVE)
    labels = role.parse_labels(path.read_text())
    assert labels == {"app": "orchestrator", "rollouts-pod-template-hash": "5d9f", "role": "active"}
    assert role.read_role(path) == role.ACTIVE


@pytest.mark.parametrize("content", [None, "", 'app="x"\n', 'role="primary"\n', "garbage"])
def test_a_role_that_cannot_be_read_is_preview(tmp_path, content):
    """Fail closed: a pod that cannot tell its role must not consume production groups."""
    path = tmp_path / "labels"
    if content is not None:
        path.write_text(content)
    assert role.read_role(path) == role.PREVIEW


def test_no_role_file_configured_means_active():
    assert role.read_role(None) == role.ACTIVE


def test_role_state_follows_the_file_and_reports_settled(tmp_path):
    path = tmp_path / "labels"
    role.write_role(path, role.PREVIEW)
    state = role.RoleState(path=path, role=role.read_role(path))
    state.report("uf-orchestrator", role.RELEASED)
    assert state.settled()

    async def go() -> None:
        waiter = asyncio.ensure_future(state.until_active())
        await asyncio.sleep(0)
        assert not waiter.done()
        role.write_role(path, role.ACTIVE)
        assert state.refresh()
        await asyncio.wait_for(waiter, 1)

    asyncio.run(go())
    assert state.active and not state.settled()  # the consumer has not joined yet
    state.report("uf-orchestrator", role.CONSUMING)
    assert state.snapshot()["settled"] is True


def test_write_role_rejects_unknown_roles(tmp_path):
    with pytest.raises(ValueError):
        role.write_role(tmp_path / "labels", "primary")


def test_faults_need_the_gate():
    with pytest.raises(faults.FaultConfigError, match="UF_TEST_FAULTS"):
        faults.configure("errors", enabled=False)
    with pytest.raises(faults.FaultConfigError, match="unknown"):
        faults.configure("meltdown", enabled=True)
    assert faults.configure("", enabled=False).kind == ""


def test_error_fault_fails_every_tenth_and_only_when_active(tmp_path):
    f = faults.Faults("errors")
    path = tmp_path / "labels"
    role.write_role(path, role.PREVIEW)
    role.configure(str(path))

    async def failures(n: int) -> int:
        count = 0
        for _ in range(n):
            try:
                await f.before_handle()
            except faults.InjectedFault:
                count += 1
        return count

    assert asyncio.run(failures(200)) == 0  # preview: no fault acts
    role.write_role(path, role.ACTIVE)
    role.configure(str(path))
    try:
        assert asyncio.run(failures(1000)) == 100  # a fixed share: any 40 events fail 4 (10 %), never fewer
        assert asyncio.run(failures(40)) == 4
    finally:
        role.configure("")


def test_trigger_plan_covers_the_seed_triggers_plus_lag_and_dead_letters():
    plan = analysis.load_plan()
    names = {t.name for t in plan.triggers}
    assert names == {"error-rate", "response-time", "memory", "cpu", "consumer-lag", "dead-letters"}
    limits = {t.name: t.max for t in plan.triggers}
    assert (limits["error-rate"], limits["response-time"], limits["memory"], limits["cpu"]) == (0.05, 2.0, 0.90, 0.95)
    q = next(t for t in plan.triggers if t.name == "error-rate").render(analysis.local_selector("delivery", "green"), "30s")
    assert 'uf_events_total{service="delivery",colour="green",outcome="error"}' in q
    assert "$" not in q


def test_rollout_record_round_trip(tmp_path, monkeypatch):
    monkeypatch.setattr(st, "ROLLOUTS_DIR", tmp_path)
    r = st.Rollout(rollout_id="r1", service="delivery", phase=st.PREVIEW, active="blue", preview="green",
                   versions={"blue": "0.1.0", "green": "0.2.0"})
    r.record("started", colour="green")
    with st.locked("delivery"):
        st.save(r)
    loaded = st.load("delivery")
    assert loaded == r
    status = loaded.as_status()
    assert {"service", "active", "preview", "phase", "analysis", "history"} <= set(status)
    assert (status["active"], status["preview"], status["phase"]) == ("blue", "green", "Preview")


def test_argo_analysis_template_is_generated_from_the_local_triggers():
    """k8s/components/blue-green/analysis-templates.yaml = render(monitoring/rollout-analysis.yaml)."""
    import yaml

    from tools import gen_rollout_analysis as gen

    assert gen.main(["--check"]) == 0, "run `python -m tools.gen_rollout_analysis`"
    doc = yaml.safe_load(gen.OUT.read_text())
    plan = analysis.load_plan()
    queries = {m["name"]: m["provider"]["prometheus"]["query"] for m in doc["spec"]["metrics"]}
    for t in plan.triggers:
        local = t.render(analysis.local_selector("delivery", "green"), plan.window)
        k8s = queries[t.name].replace("{{args.service}}", "delivery").replace("{{args.colour}}", "green")
        assert k8s == local, t.name


def test_rollouts_use_roles_and_the_generated_analysis():
    import yaml

    from services.kit.runtime.paths import ROOT

    docs = list(yaml.safe_load_all((ROOT / "k8s/components/blue-green/rollouts.yaml").read_text()))
    assert {d["metadata"]["name"] for d in docs} == {"orchestrator", "delivery"}
    for d in docs:
        bg = d["spec"]["strategy"]["blueGreen"]
        assert bg["autoPromotionEnabled"] is False
        assert bg["activeMetadata"]["labels"] == {role.LABEL: role.ACTIVE}
        assert bg["previewMetadata"]["labels"] == {role.LABEL: role.PREVIEW}
        assert bg["postPromotionAnalysis"]["templates"] == [{"templateName": "uf-rollback-triggers"}]


def test_every_instance_of_a_colour_has_its_own_name_role_file_and_port(monkeypatch):
    """A rollout moves every instance (`launcher up --replicas N`): green has as many instances
    as blue, each with its own name, role file and HTTP port, none shared with another part."""
    from services import launcher
    from services.kit.runtime import service_table as t

    monkeypatch.setattr(launcher, "replicas", lambda: {"orchestrator": 3})
    assert launcher.colour_replicas("orchestrator") == 3 and launcher.colour_replicas("pii") == 1
    names = [launcher.colour_instance("orchestrator", c, i) for c in t.COLOURS for i in range(3)]
    assert names == ["orchestrator", "orchestrator@1", "orchestrator@2",
                     "orchestrator-green", "orchestrator-green@1", "orchestrator-green@2"]
    assert len({launcher.role_file(n) for n in names}) == 6
    ports = [t.colour_http_port(s, c, i) for s in t.SERVICES for c in t.COLOURS for i in range(launcher.MAX_REPLICAS)]
    assert len(set(ports)) == len(ports), "no two instances share an HTTP port"
    assert t.colour_http_port("orchestrator", "blue", 2) == t.instance_http_port("orchestrator", 2)
    assert t.colour_http_port("orchestrator", "green") == t.http_port("orchestrator", "green")
    others = {t.KAFKA_PORT, t.ELASTICSEARCH_PORT, t.REDIS_PORT, t.SMTP_PORT, t.PROMETHEUS_PORT, t.LOADGEN_PORT}
    assert not others & set(ports)

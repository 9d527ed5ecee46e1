"""The real local stack for integration tests: Kafka, OpenSearch, Redis, the SMTP sink and
the five services. Reused when already up (`make up`); otherwise started here on empty data
(`infra/stack.py reset`) and stopped at the end of the session."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

from services.kit.runtime.paths import ROOT
from services.kit.security import kafka_auth

# The test process reads and injects records as the operator with the admin certificate (a Kafka
# super user); the services and ufctl (also when called in-process) use their own principals.
kafka_auth.configure_kafka_identity(kafka_auth.ADMIN)


@pytest.fixture(autouse=True)
def _admin_kafka_identity():
    """Every test starts as the admin: `ufctl` called in-process switches the process to the
    CLI's principal for good, which may not read what a later test reads (a test that ran after
    one such call could not read its own scratch topic)."""
    kafka_auth.configure_kafka_identity(kafka_auth.ADMIN)
    yield


def _ok(*cmd: str) -> bool:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True).returncode == 0


def _run(*cmd: str) -> None:
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        pytest.exit(f"could not start the local stack: {' '.join(cmd)}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}", returncode=3)


def _stack_probes() -> dict:
    """The local stack's own readiness probes (protocol round-trips), for containers too."""
    spec = importlib.util.spec_from_file_location("uf_infra_stack", ROOT / "infra" / "stack.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return {"kafka": lambda p: mod.kafka_probe(p)[0], "redis": lambda p: mod.redis_probe(p)[0],
            "opensearch": lambda p: mod.search_probe(p)[0]}


@pytest.fixture(scope="session")
def stack():
    """Infrastructure + topics (no services). Each of Kafka, Redis and the search engine comes
    from the environment, else a container (testcontainers, when an engine answers), else the
    local stack (tests/integration/endpoints.py); the SMTP sink and Prometheus are local."""
    from tests.integration import endpoints

    try:
        found = endpoints.resolve(_stack_probes())
    except Exception as exc:  # a container that did not come up: say which, stop
        pytest.exit(f"could not start the test containers: {exc}", returncode=3)
    print("\n[stack] " + "; ".join(f"{c}: {found.source[c]} ({found.why[c]})" for c in found.source), file=sys.__stderr__)
    local = [*found.local(), "smtp", "prometheus"]
    infra_was_up = _ok(sys.executable, "infra/stack.py", "status", *local)
    try:
        if not infra_was_up:
            # A stack this session starts itself starts from empty data: the attack tests leave
            # what they forge (a checkpoint, records of an unknown signer) on the log for good, as
            # a log must keep it, and `audit verify` on the next session's stack would rightly
            # name it. A stack that is already up (`make up`) is reused as it is.
            _run(sys.executable, "infra/stack.py", "reset")
            _forget_earlier_services()
            _run(sys.executable, "infra/stack.py", "up", *local)
        _run(sys.executable, "-m", "services.kit.contracts.topics")
    except BaseException:
        found.stop()  # pytest.exit skips teardown: leave no container behind
        raise
    yield
    if not infra_was_up and not os.environ.get("UF_KEEP_STACK"):
        subprocess.run([sys.executable, "infra/stack.py", "down", *local], cwd=ROOT, capture_output=True)
    if not os.environ.get("UF_KEEP_STACK"):
        found.stop()


def _forget_earlier_services() -> None:
    """Empty data, and nothing remembered about the services of an earlier session either: their
    replica counts, colours and role files (`launcher forget`) and ufctl's rollout records. A
    session that failed mid-rollout left a rollout in Preview and the orchestrator scaled to 2;
    the next session inherited both and failed every rollout test and the log test on them."""
    from ufctl.rollout.state import ROLLOUTS_DIR

    _ok(sys.executable, "-m", "services.launcher", "down")  # services left running on the old data; `forget` refuses while any runs
    _run(sys.executable, "-m", "services.launcher", "forget")
    shutil.rmtree(ROLLOUTS_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def suite(stack):
    """The five services, ready."""
    services_were_up = _ok(sys.executable, "-m", "services.launcher", "status")
    if not services_were_up:
        _run(sys.executable, "-m", "services.launcher", "up")

    def stop() -> None:
        if not services_were_up and not os.environ.get("UF_KEEP_STACK"):
            subprocess.run([sys.executable, "-m", "services.launcher", "down"], cwd=ROOT, capture_output=True)

    problem = _first_workflow_problem()
    if problem:
        stop()  # pytest.exit skips teardown: leave nothing running behind
        pytest.exit(problem, returncode=3)
    yield
    stop()


def _first_workflow_problem() -> str | None:
    """/ready says each instance joined its groups; on a fresh stack the orchestrator may still be
    opening one transactional producer per input partition and restoring state. The suite is
    usable once a workflow goes end to end, so wait for that (a condition, with a generous bound
    for a cold start on a busy machine) before any test measures its own workflows."""
    from tests.integration import helpers as h

    try:
        st = h.wait_phase(h.publish(h.campaign()), timeout_s=300)
    except AssertionError as exc:
        return f"the suite is up but a first workflow did not finish: {exc}"
    if st["phase"] != "COMPLETED":
        return f"the suite is up but a first workflow ended {st['phase']}: {st.get('reason')}"
    return None

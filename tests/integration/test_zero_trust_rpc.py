"""Authenticated internal RPC, as the attacks it stops: somebody on the network with a gRPC
client asks the validator for a decision (a signing oracle) or the PII service for a scan -
without a certificate, with a certificate of another CA, or with the certificate of a service
that may not call that method. Every such call is refused and nothing is recorded."""
from __future__ import annotations

import asyncio

import grpc
import pytest

from services.kit.contracts import topics
from services.kit.rpc import pii_pb2, pii_pb2_grpc, validator_pb2, validator_pb2_grpc
from services.kit.runtime import service_table as table
from services.kit.security import tls
from tests.integration import helpers as h

pytestmark = pytest.mark.integration


def ask_validator(channel, wf: str) -> validator_pb2.ValidationDecision:
    """`channel`: a factory (an aio channel belongs to the loop it is made in)."""
    async def go():
        async with channel() as ch:
            req = validator_pb2.ValidateTransitionRequest(
                snapshot=validator_pb2.WorkflowSnapshot(workflow_id=wf, current_phase="REVIEW", review_approved=True,
                                                        reviewer_id="policy:auto-approve", auto_approve=True),
                target_phase="DELIVERY", causation_id="attacker")
            return await validator_pb2_grpc.ValidatorStub(ch).ValidateTransition(req, timeout=5)
    return asyncio.run(go())


def scan(channel) -> pii_pb2.ScanResponse:
    async def go():
        async with channel() as ch:
            return await pii_pb2_grpc.PiiScannerStub(ch).Scan(pii_pb2.ScanRequest(texts=["ann@example.org"]), timeout=5)
    return asyncio.run(go())


def code_of(call) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        call()
    return exc.value.code()


def foreign_ca_channel(addr: str, tmp_path) -> grpc.aio.Channel:
    """A self-made CA and a client certificate named like the orchestrator."""
    if not (tmp_path / "orchestrator.crt").exists():
        tls.issue("orchestrator", tmp_path)
    creds = grpc.ssl_channel_credentials(root_certificates=tls.ca_file().read_bytes(),
                                         private_key=(tmp_path / "orchestrator.key").read_bytes(),
                                         certificate_chain=(tmp_path / "orchestrator.crt").read_bytes())
    return grpc.aio.secure_channel(addr, creds)


def test_the_validator_is_no_signing_oracle(suite, tmp_path):
    wf = h.unique("wf-oracle")
    addr = table.grpc_addr("validator")
    assert code_of(lambda: ask_validator(lambda: grpc.aio.insecure_channel(addr), wf)) == grpc.StatusCode.UNAVAILABLE
    assert code_of(lambda: ask_validator(lambda: foreign_ca_channel(addr, tmp_path), wf)) == grpc.StatusCode.UNAVAILABLE
    assert code_of(lambda: ask_validator(lambda: tls.secure_channel(addr, "delivery"), wf)) == grpc.StatusCode.PERMISSION_DENIED
    assert h.events_of(wf, topics.VALIDATION_DECISIONS) == [], "no decision was signed or recorded"


def test_only_the_validator_may_scan(suite, tmp_path):
    addr = table.grpc_addr("pii")
    assert code_of(lambda: scan(lambda: grpc.aio.insecure_channel(addr))) == grpc.StatusCode.UNAVAILABLE
    assert code_of(lambda: scan(lambda: foreign_ca_channel(addr, tmp_path))) == grpc.StatusCode.UNAVAILABLE
    assert code_of(lambda: scan(lambda: tls.secure_channel(addr, "orchestrator"))) == grpc.StatusCode.PERMISSION_DENIED
    assert scan(lambda: tls.secure_channel(addr, "validator")).results, "the allowed caller is served"


def test_even_the_orchestrators_certificate_gets_no_decision_for_a_state_not_recorded(suite):
    """A stolen orchestrator certificate is still no signing oracle: the validator checks the
    claimed phase against what it allowed (and the audit projection) before any rule runs."""
    doc = h.campaign(auto_approve=False)
    wf = h.publish(doc)
    h.wait_phase(wf, "REVIEW")
    addr = table.grpc_addr("validator")

    def ask(current: str, target: str, workflow_id: str = wf):
        async def go():
            async with tls.secure_channel(addr, "orchestrator") as ch:
                req = validator_pb2.ValidateTransitionRequest(
                    snapshot=validator_pb2.WorkflowSnapshot(workflow_id=workflow_id, current_phase=current,
                                                            deliveries_expected=1, deliveries_confirmed=1),
                    target_phase=target, causation_id="attacker")
                return await validator_pb2_grpc.ValidatorStub(ch).ValidateTransition(req, timeout=10)
        return asyncio.run(go())

    before = len(h.events_of(wf, topics.VALIDATION_DECISIONS))
    assert code_of(lambda: ask("DELIVERY", "COMPLETED")) == grpc.StatusCode.FAILED_PRECONDITION
    assert code_of(lambda: ask("REVIEW", "DELIVERY", h.unique("wf-never"))) == grpc.StatusCode.FAILED_PRECONDITION
    assert len(h.events_of(wf, topics.VALIDATION_DECISIONS)) == before, "nothing signed, nothing recorded"
    assert h.status(wf)["phase"] == "REVIEW"

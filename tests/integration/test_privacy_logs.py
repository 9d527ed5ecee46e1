"""No service writes clear PII to its log: drive every service to log user-supplied values that
carry an email, a phone number, a card number and an SSN, then search every log line."""
from __future__ import annotations

import asyncio
import re

import pytest

from services.kit.rpc import pii_pb2, pii_pb2_grpc
from services.kit.runtime import service_table as table
from services.kit.runtime.service_table import SERVICES
from services.kit.security import tls
from tests.integration import helpers as h
from tests.integration.waiting import eventually

pytestmark = pytest.mark.integration
CARD, SSN, PHONE = "4111-1111-1111-1111", "536-22-8910", "+1 415-555-0132"


def digits(s: str) -> str:
    return re.sub(r"\D", "", s)


def test_no_service_logs_clear_pii(suite):
    tag = h.unique("priv")
    email = f"jane.doe.{tag}@example.com"
    log_sizes = {n: (h.ROOT / "var" / "log" / f"{n}.log").stat().st_size for n in SERVICES}
    # Identifiers are user-supplied: a publisher may well use an email as user id, and a
    # workflow id with anything in it. Every service logs the workflow id it handles.
    doc = h.campaign(requester=email)
    doc["workflow_id"] = f"wf-{tag} card {CARD} ssn {SSN} tel {PHONE} mail {email}"
    wf = h.publish(doc)
    assert h.wait_phase(wf)["phase"] == "COMPLETED"

    async def scan() -> None:
        async with tls.secure_channel(table.grpc_addr("pii"), "validator") as ch:
            await pii_pb2_grpc.PiiScannerStub(ch).Scan(
                pii_pb2.ScanRequest(texts=["hello"], types=[email, CARD, SSN, PHONE]), timeout=10)

    asyncio.run(scan())  # the pii service logs unknown requested types
    pii_log = h.ROOT / "var" / "log" / "pii.log"
    eventually(lambda: b"unknown entity types requested" in pii_log.read_bytes()[log_sizes["pii"]:],
               what="the pii service's log line about the requested types")
    secrets = [email, CARD, digits(CARD), SSN, digits(SSN), PHONE, digits(PHONE)]
    secrets += [c["email"] for c in doc["contacts"]]  # delivery logs each recipient
    seen_workflow = 0
    for name in SERVICES:
        with open(h.ROOT / "var" / "log" / f"{name}.log", encoding="utf-8", errors="replace") as f:
            f.seek(log_sizes[name])
            text = f.read()
        seen_workflow += tag in text
        for secret in secrets:
            assert secret not in text, f"{name} logged clear PII"
    assert seen_workflow >= 4, "the services did log the workflow (with its PII redacted)"

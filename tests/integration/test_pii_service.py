"""The PII service over its two real interfaces: gRPC Scan and the Kafka scan topics. Answers
carry types and offsets, never values."""
from __future__ import annotations

import asyncio

import grpc
import pytest

from services.kit.contracts import codec, topics
from services.kit.contracts.events import Origin, make_event
from services.kit.rpc import pii_pb2, pii_pb2_grpc
from services.kit.runtime import service_table as table
from services.kit.security import tls
from tests.integration import helpers as h
from tests.integration.waiting import eventually

pytestmark = pytest.mark.integration
TEXT = "Mail ann.lee@example.org or pay with 4111 1111 1111 1111, order #88231 ships Tuesday."


def grpc_scan(texts: list[str], types: list[str] = ()) -> pii_pb2.ScanResponse:
    async def go():
        async with tls.secure_channel(table.grpc_addr("pii"), "validator") as ch:
            return await pii_pb2_grpc.PiiScannerStub(ch).Scan(pii_pb2.ScanRequest(texts=texts, types=list(types)), timeout=10)

    return asyncio.run(go())


def test_grpc_scan_returns_types_and_offsets(suite):
    resp = grpc_scan([TEXT, "nothing personal here"])
    spans = {(f.type, TEXT[f.start:f.end]) for f in resp.results[0].findings}
    assert ("EMAIL_ADDRESS", "ann.lee@example.org") in spans
    assert ("CREDIT_CARD", "4111 1111 1111 1111") in spans
    assert not any(f.type in ("CREDIT_CARD", "PHONE_NUMBER") and "88231" in TEXT[f.start:f.end] for f in resp.results[0].findings)
    assert list(resp.results[1].findings) == []
    assert resp.classification == "RESTRICTED"
    assert grpc_scan([TEXT], ["EMAIL_ADDRESS"]).classification == "CONFIDENTIAL"
    # An auditor can tell which engine saw the text: recognizer name + version per finding.
    assert resp.engine_version.startswith("uf-pii ")
    assert all(f.recognizer and f.recognizer_version for f in resp.results[0].findings)


def test_grpc_scan_refuses_oversized_requests(suite):
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        grpc_scan(["x" * 200_000])
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_kafka_scan_request_yields_a_result_without_values(suite):
    rid = h.unique("scan")
    since = h.end_offsets(topics.PII_SCAN_RESULTS)
    req = make_event("PiiScanRequested", origin=Origin("test", "0", "external"), workflow_id=rid, session_id="",
                     correlation_id=rid, request_id=rid, texts=[TEXT, "Call +44 20 7946 0958 today"])
    h.send(req)  # signed by the registered publisher (unsigned requests are dead-lettered)

    def scanned() -> bytes | None:
        return next((m.value for m in h.read_topic(topics.PII_SCAN_RESULTS, since=since) if m.key == rid.encode()), None)

    raw = eventually(scanned, timeout_s=60, interval_s=0.3, what="the scan result")
    result = codec.decode(raw).record
    assert result is not None
    assert result["counts"]["EMAIL_ADDRESS"] == 1 and result["counts"]["CREDIT_CARD"] == 1
    assert result["counts"]["PHONE_NUMBER"] == 1
    first = {(f["type"], TEXT[f["start"]:f["end"]]) for f in result["results"][0]["findings"]}
    assert ("EMAIL_ADDRESS", "ann.lee@example.org") in first
    assert result["classification"] == "RESTRICTED"
    assert result["engine_version"].startswith("uf-pii ")
    assert all(f["recognizer"] and f["recognizer_version"] for f in result["results"][0]["findings"])
    assert b"ann.lee@example.org" not in raw and b"4111" not in raw and b"7946" not in raw

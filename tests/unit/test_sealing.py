"""Crypto-shredding primitives: sealed PII opens with the subject's key and reads as erased
once the key is gone; ciphertexts cannot be moved between records or fields."""
from __future__ import annotations

import json

import pytest

from services.kit.contracts.events import Origin, make_event
from services.kit.security import sealing
from tests.unit.memory_keys import MemoryKeys


def request():
    return make_event("WorkflowRequested", origin=Origin("t", "0", "cli"), workflow_id="wf", session_id="s",
                      correlation_id="wf", requester_id="u", purpose="marketing", auto_approve=True,
                      campaign={"name": "C", "goal": "announce", "subject": "Hi", "sender": "a@b.io", "variables": {}},
                      contacts=[{"subject_id": "s1", "email": "ann@x.io", "name": "Ann"},
                                {"subject_id": "s2", "email": "bob@x.io", "name": "Bob"}])


def test_record_fields_are_sealed_per_subject_and_reopen():
    keys = MemoryKeys()
    sealed = sealing.seal_record(keys, request())
    flat = json.dumps(sealed, default=str)
    assert "ann@x.io" not in flat and "Bob" not in flat
    paths = {(f["path"], f["subject_id"]) for f in sealed["envelope"]["encrypted_fields"]}
    assert ("contacts.0.email", "s1") in paths and ("contacts.1.name", "s2") in paths
    opened = sealing.open_record(keys, sealed)
    assert opened["contacts"][0]["email"] == "ann@x.io" and opened["envelope"]["encrypted_fields"] == []


def test_erasing_one_subject_leaves_the_others_readable():
    keys = MemoryKeys()
    sealed = sealing.seal_record(keys, request())
    keys.delete("s1")
    opened = sealing.open_record(keys, sealed)
    assert opened["contacts"][0]["email"] == sealing.ERASED and opened["contacts"][0]["name"] == sealing.ERASED
    assert opened["contacts"][1]["email"] == "bob@x.io"


def test_ciphertext_moved_to_another_field_is_detected():
    keys = MemoryKeys()
    sealed = sealing.seal_record(keys, request())
    fields = sealed["envelope"]["encrypted_fields"]
    fields[0]["path"], fields[1]["path"] = fields[1]["path"], fields[0]["path"]
    with pytest.raises(ValueError):
        sealing.open_record(keys, sealed)


def test_blobs_seal_values_of_objects_with_a_subject():
    keys = MemoryKeys()
    blob = {"recipients": [{"subject_id": "s1", "email": "ann@x.io", "name": "Ann", "segment": "vip"}], "count": 1}
    sealed = sealing.seal_blob(keys, blob)
    assert sealed["recipients"][0]["email"].startswith(sealing.TOKEN_PREFIX)
    assert sealed["recipients"][0]["segment"] == "vip" and sealed["count"] == 1
    assert sealing.seal_blob(keys, sealed) == sealed, "sealing is idempotent"
    assert sealing.open_blob(keys, sealed) == blob
    keys.delete("s1")
    assert sealing.open_blob(keys, sealed)["recipients"][0]["name"] == sealing.ERASED


def test_token_moved_to_another_key_fails():
    keys = MemoryKeys()
    token = sealing.seal_token(keys, "s1", "Ann", "name")
    with pytest.raises(ValueError):
        sealing.open_token(keys, token, "email")


class _CountingKeys(MemoryKeys):
    """MemoryKeys with `get_many` (the Redis store's one-round-trip form), recording every ask."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def get(self, subject_id: str) -> tuple[str, bytes] | None:
        self.asked.append(subject_id)
        return super().get(subject_id)

    def get_many(self, subject_ids: list[str]) -> dict[str, tuple[str, bytes] | None]:
        return {s: self.get(s) for s in subject_ids}


def test_opening_a_blob_asks_the_key_store_once_per_subject_even_with_colons_in_it():
    """A campaign's free text is sealed under `workflow:<id>`. Opening it must prefetch that
    subject, not the truncated `workflow`: a subject without a key is never cached, so the wrong
    name cost a key-store round trip on every opening (7 per workflow in the orchestrator)."""
    keys = _CountingKeys()
    campaign = sealing.seal_campaign(keys, "wf-1", {"name": "Spring", "goal": "announce", "subject": "Hi", "variables": {"v": "x"}})
    blob = {"campaign": campaign, "recipients": [{"subject_id": "s1", "email": "ann@x.io"}]}
    sealed = sealing.seal_blob(keys, blob)
    keys.asked.clear()
    opened = sealing.open_blob(keys, sealed)
    assert opened["campaign"]["name"] == "Spring" and opened["recipients"][0]["email"] == "ann@x.io"
    assert sorted(keys.asked) == ["s1", "workflow:wf-1"]


def test_record_subjects_names_every_key_opening_needs_and_never_raises():
    """What a service warms its key cache with before opening a record: every sealed field's
    subject. Malformed input is opening's to report, not the warm-up's."""
    keys = _CountingKeys()
    sealed = sealing.seal_record(keys, request())
    assert sealing.record_subjects(sealed) == {"s1", "s2"}
    keys.asked.clear()
    sealing.open_record(keys, sealed)
    assert set(keys.asked) <= sealing.record_subjects(sealed)
    assert sealing.record_subjects({"envelope": {"event_type": "NoSuchEvent", "encrypted_fields": [{"x": 1}]}}) == set()
    assert sealing.record_subjects({}) == set()

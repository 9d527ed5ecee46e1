"""Avro single-object encoding against the spec, and bad bytes turned into typed errors."""
from __future__ import annotations

import io
import json

import pytest
from fastavro import schemaless_writer
from fastavro.schema import fingerprint, to_parsing_canonical_form

from services.kit.contracts import codec
from services.kit.contracts.catalog import default_catalog
from services.kit.contracts.events import Origin, make_event

P = Origin("test", "0", "blue")


def consent(**kw):
    return make_event("ConsentChanged", origin=P, workflow_id="s-1", session_id="", correlation_id="s-1",
                      subject_id="s-1", purpose="marketing", granted=True, **kw)


def test_crc64_avro_fingerprint_matches_the_spec_vector():
    # Avro spec test vector: the schema "null" has the 64-bit Rabin fingerprint 0x63dd24e7cc258f8a.
    fp = bytes.fromhex(fingerprint(to_parsing_canonical_form("null"), "CRC-64-AVRO"))
    assert int.from_bytes(fp, "little") == 0x63DD24E7CC258F8A


def test_header_is_c3_01_then_little_endian_fingerprint_then_plain_avro_body():
    event = consent()
    data = codec.encode(event)
    sv = default_catalog().latest("ConsentChanged")
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == sv.fingerprint
    body = io.BytesIO()
    schemaless_writer(body, sv.parsed, event)
    assert data[10:] == body.getvalue(), "the body is the plain Avro binary encoding"


def test_round_trip_every_event_type_preserves_the_record():
    event = consent(event_id="e-1", occurred_at=1_700_000_000_000)
    decoded = codec.decode(codec.encode(event))
    assert decoded.event_type == "ConsentChanged" and decoded.writer_version == 1
    assert decoded.record == event


@pytest.mark.parametrize(("data", "error"), [
    (b"", codec.NotSingleObjectEncoded),
    (None, codec.NotSingleObjectEncoded),
    (b"{\"json\": true}", codec.NotSingleObjectEncoded),
    (b"\xc3\x01" + b"\xff" * 8 + b"\x00", codec.UnknownFingerprint),
])
def test_bad_bytes_raise_typed_errors(data, error):
    with pytest.raises(error):
        codec.decode(data)


def test_truncated_and_trailing_bodies_are_undecodable():
    data = codec.encode(consent())
    with pytest.raises(codec.UndecodableBody):
        codec.decode(data[:-3])
    with pytest.raises(codec.UndecodableBody):
        codec.decode(data + b"\x00\x00")


def test_invalid_record_error_names_fields_not_values():
    event = consent()
    event["subject_id"] = 12345
    event["purpose"] = None
    with pytest.raises(codec.InvalidRecord) as exc:
        codec.encode(event)
    assert "12345" not in str(exc.value)


def test_old_writer_version_is_read_with_the_latest_reader(tmp_path):
    """A v2 that adds a defaulted field still reads v1 bytes (resolution against the latest)."""
    import shutil

    from services.kit.contracts.catalog import SCHEMAS_DIR, load_catalog

    root = tmp_path / "schemas"
    shutil.copytree(SCHEMAS_DIR, root)
    v1 = json.loads((root / "events" / "ConsentChanged" / "v1.avsc").read_text())
    v2 = {**v1, "fields": v1["fields"] + [{"name": "channel", "type": "string", "default": "web"}]}
    old = load_catalog(root)
    data = codec.encode(consent(), old)
    (root / "events" / "ConsentChanged" / "v2.avsc").write_text(json.dumps(v2))
    new = load_catalog(root)
    decoded = codec.decode(data, new)
    assert decoded.writer_version == 1
    assert decoded.record["channel"] == "web"



def _leaves(value, path=()):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, i))
    else:
        yield path


@pytest.mark.parametrize("wrong", [12345, "yes", 1.5, {"x": 1}, ["a"], b"raw"])
def test_every_wrongly_typed_field_gets_the_strict_validators_verdict(wrong):
    """encode validates yes/no first and asks fastavro for the field names only on failure: the
    verdict must be the strict validator's on every field, nullable (union) ones included, and
    the error names the field, never the value."""
    import copy

    from fastavro.validation import ValidationError, validate

    event = consent(causation_id="e-0")
    event["envelope"]["encrypted_fields"] = [{"path": "a", "subject_id": "s-1", "key_id": "k",
                                               "algorithm": "AES-256-GCM", "nonce": b"n" * 12, "ciphertext": b"c"}]
    schema = default_catalog().latest("ConsentChanged").parsed
    codec.encode(event)  # the valid record passes
    refused = 0
    for path in _leaves(event):
        if path == ("envelope", "event_type"):
            continue  # picks the schema: a wrong one is refused earlier, for that reason
        mutated = copy.deepcopy(event)
        node = mutated
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = wrong
        try:
            validate(mutated, schema, raise_errors=True)
            strict_ok = True
        except ValidationError:
            strict_ok = False
        if strict_ok:
            codec.encode(mutated)
            continue
        with pytest.raises(codec.InvalidRecord) as exc:
            codec.encode(mutated)
        named = [str(p) for p in path if isinstance(p, str)][-1]
        assert named in str(exc.value), (path, str(exc.value))
        assert repr(wrong) not in str(exc.value)
        refused += 1
    assert refused >= 5, "the mutations must hit fields the schema types strictly"

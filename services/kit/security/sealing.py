"""Sealing PII under its data subject's key (AES-256-GCM), in two shapes:

* Avro fields marked `"pii": true`: the clear value is emptied and the ciphertext goes to the
  envelope's `encrypted_fields` (path, subject, key id, nonce, ciphertext). The subject of a
  field is the `subject_id` field of the same record (schemas declare it) or, for records
  without one, the event's `workflow_id`-level owner given by the caller.
* JSON blobs (agent inputs/outputs, orchestrator state): inside any object that has a
  `subject_id`, the values of PII-named keys become inline tokens
  `uf-enc:v1:<subject>:<key id>:<nonce>:<ciphertext>`.

Opening with an erased key yields `ERASED` - replays and reports show the field as erased.
Associated data binds a field's ciphertext to its event and path, a token's to its subject and
key, so neither can be moved to another record or person unnoticed."""
from __future__ import annotations

import base64
import copy
import json
import os
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.kit.contracts.catalog import CatalogError, default_catalog
from services.kit.security.subject_keys import KeyStore

ERASED = "<erased>"
ALGORITHM = "AES-256-GCM"
TOKEN_PREFIX = "uf-enc:v1:"
BLOB_PII_KEYS = frozenset({"email", "name", "recipient", "body", "subject"})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encrypt(keys: KeyStore, subject_id: str, plaintext: str, aad: str, retention_s: int | None = None) -> tuple[str, bytes, bytes]:
    key_id, key = keys.get_or_create(subject_id, retention_s)
    nonce = os.urandom(12)
    return key_id, nonce, AESGCM(key).encrypt(nonce, plaintext.encode(), aad.encode())


def decrypt(keys: KeyStore, subject_id: str, key_id: str, nonce: bytes, ciphertext: bytes, aad: str) -> str:
    found = keys.get(subject_id)
    if found is None or found[0] != key_id:
        return ERASED
    try:
        return AESGCM(found[1]).decrypt(nonce, ciphertext, aad.encode()).decode()
    except InvalidTag:
        raise ValueError("sealed value was tampered with or moved") from None


# -- inline tokens (JSON blobs) ----------------------------------------------------------------
def seal_token(keys: KeyStore, subject_id: str, value: str, field: str) -> str:
    """Tokens travel between events (request -> state -> agent task -> result), so their
    associated data binds them to subject and field, not to one event."""
    if value.startswith(TOKEN_PREFIX):
        return value
    key_id, nonce, ct = encrypt(keys, subject_id, value, f"{subject_id}|{field}")
    return f"{TOKEN_PREFIX}{subject_id}:{key_id}:{_b64(nonce)}:{_b64(ct)}"


def token_subject(token: str) -> str:
    """The subject a token is sealed for. Subjects may contain ':' (`workflow:<id>`), so the
    token is split from the right: key id, nonce and ciphertext never do."""
    return token[len(TOKEN_PREFIX):].rsplit(":", 3)[0]


def open_token(keys: KeyStore, token: str, field: str) -> str:
    if not token.startswith(TOKEN_PREFIX):
        return token
    subject_id, key_id, nonce, ct = token[len(TOKEN_PREFIX):].rsplit(":", 3)
    return decrypt(keys, subject_id, key_id, _unb64(nonce), _unb64(ct), f"{subject_id}|{field}")


def _walk_blob(value: Any, fn: Callable[[str, str, str], Any]) -> Any:
    if isinstance(value, list):
        return [_walk_blob(v, fn) for v in value]
    if isinstance(value, dict):
        subject = value.get("subject_id")
        return {k: (fn(subject, k, v) if subject and k in BLOB_PII_KEYS and isinstance(v, str) else _walk_blob(v, fn))
                for k, v in value.items()}
    return value


def seal_blob(keys: KeyStore, blob: Any) -> Any:
    return _walk_blob(blob, lambda subject, k, v: seal_token(keys, subject, v, k))


class _CallKeys:
    """Key look-ups memoised for one open call: a record or blob names the same subject in
    several fields (email, name, body...), and each look-up is a key-store round trip."""

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys
        self.seen: dict[str, tuple[str, bytes] | None] = {}

    def get(self, subject_id: str) -> tuple[str, bytes] | None:
        if subject_id not in self.seen:
            self.seen[subject_id] = self.keys.get(subject_id)
        return self.seen[subject_id]

    def prefetch(self, subject_ids: set[str]) -> None:
        """One round trip for every subject a blob names (stores that can: `get_many`)."""
        wanted = subject_ids - self.seen.keys()
        get_many = getattr(self.keys, "get_many", None)
        if wanted and get_many is not None:
            self.seen.update(get_many(sorted(wanted)))


def _token_subjects(value: Any, found: set[str]) -> set[str]:
    if isinstance(value, list):
        for v in value:
            _token_subjects(v, found)
    elif isinstance(value, dict):
        for v in value.values():
            _token_subjects(v, found)
    elif isinstance(value, str) and value.startswith(TOKEN_PREFIX):
        found.add(token_subject(value))
    return found


def blob_subjects(blob: Any) -> set[str]:
    """The subjects whose keys opening `blob` needs (what a service warms its key cache with)."""
    return _token_subjects(blob, set())


def _named_subjects(value: Any, found: set[str]) -> set[str]:
    if isinstance(value, list):
        for v in value:
            _named_subjects(v, found)
    elif isinstance(value, dict):
        if isinstance(value.get("subject_id"), str):
            found.add(value["subject_id"])
        for v in value.values():
            _named_subjects(v, found)
    return found


def record_subjects(record: dict[str, Any]) -> set[str]:
    """The subjects whose keys opening or sealing `record` needs: every `subject_id` it names
    (its sealed fields', its contacts') and those of the tokens in its JSON blob fields. For
    warming a cache only, so it never raises: a malformed part is skipped here, and opening the
    record reports it."""
    subjects = _named_subjects(record, set())
    env = record.get("envelope") or {}
    try:
        for path in default_catalog().latest(env["event_type"]).pii_paths:
            for obj, name, _concrete, _ in _field_slots(record, path):
                if name.endswith("_json"):
                    subjects |= blob_subjects(json.loads(obj[name]))
    except (CatalogError, KeyError, TypeError, ValueError, AttributeError, RecursionError):
        pass
    return subjects


def _open_tokens(value: Any, fn: Callable[[str, str], Any]) -> Any:
    if isinstance(value, list):
        return [_open_tokens(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: (fn(k, v) if isinstance(v, str) and v.startswith(TOKEN_PREFIX) else _open_tokens(v, fn))
                for k, v in value.items()}
    return value


def open_blob(keys: KeyStore, blob: Any) -> Any:
    """Every token in the blob, wherever it sits (a token names its own subject; its field is
    the key it is stored under)."""
    keys = keys if isinstance(keys, _CallKeys) else _CallKeys(keys)  # type: ignore[assignment]
    keys.prefetch(_token_subjects(blob, set()))  # type: ignore[attr-defined]
    return _open_tokens(blob, lambda k, v: open_token(keys, v, k))


CAMPAIGN_FREE_TEXT = ("name", "subject")


def workflow_subject(workflow_id: str) -> str:
    """The key that seals a workflow's own free text (campaign name, subject line, variables):
    it is nobody's contact data, but may carry personal data (an officer's phone number)."""
    return f"workflow:{workflow_id}"


def seal_campaign(keys: KeyStore, workflow_id: str, campaign: dict[str, Any], retention_s: int | None = None) -> dict[str, Any]:
    """The campaign with its free text sealed under the workflow's key (goal and sender stay
    clear: the door and the policy check them, and they are not free text)."""
    subject = workflow_subject(workflow_id)
    out = dict(campaign)

    def seal(k: str, v: Any) -> Any:
        if not isinstance(v, str) or v.startswith(TOKEN_PREFIX):
            return v
        key_id, nonce, ct = encrypt(keys, subject, v, f"{subject}|{k}", retention_s)
        return f"{TOKEN_PREFIX}{subject}:{key_id}:{_b64(nonce)}:{_b64(ct)}"

    for k in CAMPAIGN_FREE_TEXT:
        if k in out:
            out[k] = seal(k, out[k])
    out["variables"] = {k: seal(k, v) for k, v in (campaign.get("variables") or {}).items()}
    return out


# -- Avro records (envelope.encrypted_fields) --------------------------------------------------
def _field_slots(record: dict[str, Any], path: str) -> list[tuple[dict[str, Any], str, str, str | None]]:
    """(container, field name, concrete path, subject) for every value at a schema pii path."""
    parts = path.replace("[]", ".[]").split(".")
    slots: list[tuple[Any, str, str | None]] = [(record, "", record.get("subject_id"))]
    for _i, part in enumerate(parts[:-1]):
        nxt: list[tuple[Any, str, str | None]] = []
        for obj, concrete, subject in slots:
            if part == "[]":
                nxt += [(item, f"{concrete}.{n}", item.get("subject_id", subject)) for n, item in enumerate(obj or [])]
            else:
                child = obj.get(part) if isinstance(obj, dict) else None
                if isinstance(child, dict):
                    nxt.append((child, f"{concrete}.{part}".lstrip("."), child.get("subject_id", subject)))
                elif isinstance(child, list):
                    nxt.append((child, f"{concrete}.{part}".lstrip("."), subject))
        slots = nxt
    name = parts[-1]
    return [(obj, name, f"{concrete}.{name}".lstrip("."), subject) for obj, concrete, subject in slots
            if isinstance(obj, dict) and isinstance(obj.get(name), str) and obj.get(name)]


def seal_record(keys: KeyStore, record: dict[str, Any], owner: str | None = None, retention_s: int | None = None) -> dict[str, Any]:
    """Encrypt every PII-marked string field whose subject is known (the record's `subject_id`,
    else `owner`). Blob fields (`*_json`) are sealed inline instead."""
    out = copy.deepcopy(record)
    env = out["envelope"]
    sv = default_catalog().latest(env["event_type"])
    for path in sorted(sv.pii_paths):
        for obj, name, concrete, subject in _field_slots(out, path):
            if name.endswith("_json"):
                obj[name] = json.dumps(seal_blob(keys, json.loads(obj[name])))
                continue
            subject = subject or owner
            if not subject:
                continue
            key_id, nonce, ct = encrypt(keys, subject, obj[name], f"{env['event_id']}|{concrete}", retention_s)
            env["encrypted_fields"].append({"path": concrete, "subject_id": subject, "key_id": key_id,
                                            "algorithm": ALGORITHM, "nonce": nonce, "ciphertext": ct})
            obj[name] = ""
    return out


def open_record(keys: KeyStore, record: dict[str, Any]) -> dict[str, Any]:
    """Restore sealed fields; a field whose subject was erased reads `ERASED`."""
    keys = _CallKeys(keys)  # type: ignore[assignment]
    out = copy.deepcopy(record)
    env = out["envelope"]
    keys.prefetch({ef["subject_id"] for ef in env["encrypted_fields"]})  # type: ignore[attr-defined]
    for ef in env["encrypted_fields"]:
        value = decrypt(keys, ef["subject_id"], ef["key_id"], ef["nonce"], ef["ciphertext"], f"{env['event_id']}|{ef['path']}")
        _set_path(out, ef["path"], value)
    sv = default_catalog().latest(env["event_type"])
    for path in sv.pii_paths:
        for obj, name, _concrete, _ in _field_slots(out, path):
            if name.endswith("_json"):
                obj[name] = json.dumps(open_blob(keys, json.loads(obj[name])))
    env["encrypted_fields"] = []
    return out


def _set_path(record: dict[str, Any], path: str, value: str) -> None:
    obj: Any = record
    parts = path.split(".")
    for part in parts[:-1]:
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    obj[parts[-1]] = value

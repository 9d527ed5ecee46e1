"""Schema catalog: loads every event schema version from `schemas/` and indexes it by fingerprint.

`schemas/` is the single source of event types. Layout:
  schemas/common/<fullname>.avsc          shared named types (the envelope)
  schemas/events/<EventType>/v<N>.avsc    one file per version; old versions are never deleted

A reader decodes with the *writer's* version (found by the fingerprint in the message) resolved
against the *latest* version it knows, so producers and consumers can upgrade independently.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

from services.kit.runtime import paths

SCHEMAS_DIR = paths.SCHEMAS
_VERSION_FILE = re.compile(r"^v(\d+)\.avsc$")


class CatalogError(Exception):
    """The schema tree is malformed (bad JSON, wrong name, gap in versions)."""


@dataclass(frozen=True)
class SchemaVersion:
    event_type: str
    version: int
    path: Path
    parsed: Any = field(repr=False, compare=False)  # fastavro-parsed, names expanded
    canonical: str = field(repr=False)
    fingerprint: bytes = field(repr=False)  # 8 bytes, little-endian CRC-64-AVRO
    pii_paths: frozenset[str] = frozenset()  # fields marked "pii": true, e.g. "contacts[].email"

    @property
    def key(self) -> str:
        return f"{self.event_type}/v{self.version}"

    @property
    def expanded_json(self) -> dict[str, Any]:
        """Named types inlined, defaults and attributes kept (the canonical form drops defaults,
        which schema resolution needs)."""
        stripped: dict[str, Any] = _strip_private(self.parsed)
        return stripped


@dataclass
class Catalog:
    versions: dict[str, list[SchemaVersion]]
    by_fingerprint: dict[bytes, SchemaVersion]

    def latest(self, event_type: str) -> SchemaVersion:
        try:
            return self.versions[event_type][-1]
        except KeyError:
            raise CatalogError(f"unknown event type {event_type!r}") from None

    @property
    def event_types(self) -> list[str]:
        return sorted(self.versions)


def _pii_paths(schema: Any, prefix: str = "") -> set[str]:
    """Dotted paths of fields the schema marks `"pii": true` (an attribute Avro ignores, so it
    does not change fingerprints). Arrays add `[]`, maps `{}`."""
    if isinstance(schema, list):
        return set().union(*(_pii_paths(b, prefix) for b in schema)) if schema else set()
    if not isinstance(schema, dict):
        return set()
    kind = schema.get("type")
    if kind == "record":
        found: set[str] = set()
        for f in schema.get("fields", []):
            path = f"{prefix}.{f['name']}" if prefix else f["name"]
            if f.get("pii"):
                found.add(path)
            else:
                found |= _pii_paths(f["type"], path)
        return found
    if kind == "array":
        return _pii_paths(schema["items"], prefix + "[]")
    if kind == "map":
        return _pii_paths(schema["values"], prefix + "{}")
    return _pii_paths(kind, prefix) if isinstance(kind, (dict, list)) else set()


def strip_pii(record: dict[str, Any], paths: frozenset[str]) -> dict[str, Any]:
    """`record` without the PII-marked fields: what may go to long-lived projections.

    A new top-level dict; below it, only the branches that lead to a PII path are rebuilt, the
    others are the record's own (shared, not copied): walking every field of every record was
    ~13 % of a replay's CPU, and most branches hold no PII."""
    above = _above(paths)

    def walk(value: Any, prefix: str) -> Any:
        if prefix not in above:
            return value  # no PII path runs through here
        if isinstance(value, dict) and not prefix.endswith("{}"):
            return {k: walk(v, f"{prefix}.{k}" if prefix else k) for k, v in value.items()
                    if (f"{prefix}.{k}" if prefix else k) not in paths}
        if isinstance(value, list):
            return [walk(v, prefix + "[]") for v in value]
        return value

    return {k: walk(v, k) for k, v in record.items() if k not in paths}


@lru_cache(maxsize=256)
def _above(paths: frozenset[str]) -> frozenset[str]:
    """Every string that some PII path starts with and is longer than: the prefixes under which
    a walk may still meet a PII field (a superset of the real ancestors, which is safe)."""
    return frozenset(p[:i] for p in paths for i in range(1, len(p)))


def _strip_private(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _strip_private(v) for k, v in schema.items() if not k.startswith("__")}
    if isinstance(schema, list):
        return [_strip_private(v) for v in schema]
    return schema


def _plain(schema: Any) -> Any:
    """The schema without logicalType annotations: the codec hands out plain ints (epoch
    millis), not datetimes. The bytes and the fingerprint are the same (Parsing Canonical Form
    drops logicalType)."""
    if isinstance(schema, dict):
        return {k: _plain(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_plain(v) for v in schema]
    return schema


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{path}: invalid JSON: {exc}") from exc


def _common_named(root: Path) -> dict[str, Any]:
    named: dict[str, Any] = {}
    for path in sorted((root / "common").glob("*.avsc")):
        parse_schema(_plain(_load_json(path)), named)
    return named


def load_catalog(root: Path = SCHEMAS_DIR) -> Catalog:
    common = _common_named(root)
    versions: dict[str, list[SchemaVersion]] = {}
    by_fp: dict[bytes, SchemaVersion] = {}
    for type_dir in sorted(p for p in (root / "events").iterdir() if p.is_dir()):
        found = []
        for path in type_dir.glob("*.avsc"):
            m = _VERSION_FILE.match(path.name)
            if not m:
                raise CatalogError(f"{path}: version files are named v<N>.avsc")
            found.append((int(m.group(1)), path))
        found.sort()
        if [v for v, _ in found] != list(range(1, len(found) + 1)):
            raise CatalogError(f"{type_dir}: versions must be v1..vN without gaps")
        for version, path in found:
            raw = _load_json(path)
            if raw.get("name") != type_dir.name:
                raise CatalogError(f"{path}: record name must be {type_dir.name!r}")
            parsed = parse_schema(_plain(raw), copy.deepcopy(common), expand=True)
            canonical = to_parsing_canonical_form(parsed)
            fp = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
            sv = SchemaVersion(type_dir.name, version, path, parsed, canonical, fp, frozenset(_pii_paths(raw)))
            if fp in by_fp:
                raise CatalogError(f"{path}: same canonical form as {by_fp[fp].path}")
            by_fp[fp] = sv
            versions.setdefault(type_dir.name, []).append(sv)
    if not versions:
        raise CatalogError(f"no event schemas under {root}/events")
    return Catalog(versions, by_fp)


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    return load_catalog()

"""Avro schema-resolution rules (spec, "Schema Resolution"): can a reader schema read what a
writer schema wrote? Backward compatibility = new reads old; forward = old reads new.

Works on expanded canonical JSON, so named-type references are already inlined.
"""
from __future__ import annotations

from typing import Any

Schema = Any
_PROMOTIONS = {
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
}


def _kind(s: Schema) -> str:
    if isinstance(s, list):
        return "union"
    if isinstance(s, dict):
        return s["type"] if isinstance(s["type"], str) else _kind(s["type"])
    return s


def _names(s: dict[str, Any]) -> set[str]:
    return {s["name"], *s.get("aliases", [])}


def incompatibilities(reader: Schema, writer: Schema, path: str = "") -> list[str]:
    """Every reason `reader` cannot read data written with `writer` (empty list = compatible)."""
    rk, wk = _kind(reader), _kind(writer)
    where = path or "<root>"
    if wk == "union":
        return [p for i, branch in enumerate(writer) for p in incompatibilities(reader, branch, f"{path}|{i}")]
    if rk == "union":
        if any(not incompatibilities(branch, writer, path) for branch in reader):
            return []
        return [f"{where}: writer type {wk} matches no branch of the reader union"]
    if rk != wk:
        if wk in _PROMOTIONS and rk in _PROMOTIONS[wk]:
            return []
        return [f"{where}: type changed from {wk} to {rk}"]
    if rk == "record":
        if not _names(reader) & _names(writer):
            return [f"{where}: record name changed from {writer['name']} to {reader['name']}"]
        problems: list[str] = []
        writer_fields = {f["name"]: f for f in writer["fields"]}
        for f in reader["fields"]:
            match = next((writer_fields[n] for n in [f["name"], *f.get("aliases", [])] if n in writer_fields), None)
            sub = f"{path}.{f['name']}" if path else f["name"]
            if match is None:
                if "default" not in f:
                    problems.append(f"{sub}: field missing in writer and has no default")
            else:
                problems += incompatibilities(f["type"], match["type"], sub)
        return problems
    if rk == "enum":
        if not _names(reader) & _names(writer):
            return [f"{where}: enum name changed"]
        missing = set(writer["symbols"]) - set(reader["symbols"])
        if missing and "default" not in reader:
            return [f"{where}: enum symbols {sorted(missing)} unknown to reader and no default"]
        return []
    if rk == "fixed":
        if writer["size"] != reader["size"] or not _names(reader) & _names(writer):
            return [f"{where}: fixed name or size changed"]
        return []
    if rk == "array":
        return incompatibilities(reader["items"], writer["items"], f"{path}[]")
    if rk == "map":
        return incompatibilities(reader["values"], writer["values"], f"{path}{{}}")
    return []


def full_incompatibilities(old: Schema, new: Schema) -> list[str]:
    """Backward (new reads old) and forward (old reads new) problems, labelled."""
    return [f"backward: {p}" for p in incompatibilities(new, old)] + [
        f"forward: {p}" for p in incompatibilities(old, new)
    ]

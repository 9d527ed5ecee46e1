"""Schema evolution rules: `make schemas-check` must reject what would break a reader or writer."""
from __future__ import annotations

import json
import shutil

import pytest

from services.kit.contracts.catalog import SCHEMAS_DIR, CatalogError, load_catalog
from tools import schemas_check
from tools.schema_compat import full_incompatibilities, incompatibilities

BASE = {"type": "record", "name": "E", "fields": [{"name": "a", "type": "string"}]}


def with_fields(*fields):
    return {**BASE, "fields": list(fields)}


def test_repository_schemas_pass_the_check():
    assert schemas_check.main([]) == 0


def test_adding_a_field_with_default_is_fully_compatible():
    new = with_fields({"name": "a", "type": "string"}, {"name": "b", "type": "int", "default": 0})
    assert full_incompatibilities(BASE, new) == []


def test_adding_a_field_without_default_breaks_backward():
    new = with_fields({"name": "a", "type": "string"}, {"name": "b", "type": "int"})
    assert any(p.startswith("backward") and "b" in p for p in full_incompatibilities(BASE, new))


def test_removing_a_field_without_default_breaks_forward():
    old = with_fields({"name": "a", "type": "string"}, {"name": "b", "type": "int"})
    assert any(p.startswith("forward") for p in full_incompatibilities(old, BASE))


def test_type_change_and_promotion():
    assert incompatibilities("long", "int") == []  # int promotes to long
    assert incompatibilities("int", "long") != []
    assert incompatibilities(["null", "string"], "string") == []
    assert incompatibilities("string", ["null", "string"]) != []


def test_enum_symbol_added_needs_reader_default():
    old = {"type": "enum", "name": "S", "symbols": ["A"]}
    new = {"type": "enum", "name": "S", "symbols": ["A", "B"]}
    assert incompatibilities(old, new) != []
    assert incompatibilities({**old, "default": "A"}, new) == []


@pytest.fixture
def schemas(tmp_path):
    root = tmp_path / "schemas"
    shutil.copytree(SCHEMAS_DIR, root)
    return root


def test_editing_a_locked_version_is_rejected(schemas):
    path = schemas / "events" / "ConsentChanged" / "v1.avsc"
    doc = json.loads(path.read_text())
    doc["fields"].append({"name": "x", "type": "string", "default": ""})
    path.write_text(json.dumps(doc))
    assert schemas_check.main(["--root", str(schemas)]) == 1


def test_deleting_a_version_is_rejected(schemas):
    shutil.rmtree(schemas / "events" / "ConsentChanged")
    assert schemas_check.main(["--root", str(schemas)]) == 1


def test_incompatible_new_version_is_rejected_even_when_locked(schemas):
    v1 = json.loads((schemas / "events" / "ConsentChanged" / "v1.avsc").read_text())
    v2 = {**v1, "fields": [f for f in v1["fields"] if f["name"] != "purpose"] + [{"name": "scope", "type": "string"}]}
    (schemas / "events" / "ConsentChanged" / "v2.avsc").write_text(json.dumps(v2))
    assert schemas_check.main(["--root", str(schemas), "--update-lock"]) == 1


def test_compatible_new_version_is_accepted_after_locking(schemas):
    v1 = json.loads((schemas / "events" / "ConsentChanged" / "v1.avsc").read_text())
    v2 = {**v1, "fields": v1["fields"] + [{"name": "channel", "type": "string", "default": "web"}]}
    (schemas / "events" / "ConsentChanged" / "v2.avsc").write_text(json.dumps(v2))
    assert schemas_check.main(["--root", str(schemas)]) == 1, "an unlocked new version fails until recorded"
    assert schemas_check.main(["--root", str(schemas), "--update-lock"]) == 0


def test_version_gap_is_a_catalog_error(schemas):
    src = schemas / "events" / "ConsentChanged" / "v1.avsc"
    shutil.copy(src, schemas / "events" / "ConsentChanged" / "v3.avsc")
    with pytest.raises(CatalogError):
        load_catalog(schemas)


def test_pii_marks_are_read_from_the_schemas():
    paths = load_catalog().latest("WorkflowRequested").pii_paths
    assert {"contacts[].email", "contacts[].name"} <= paths
    assert "contacts[].subject_id" not in paths


def test_generated_grpc_stubs_are_fresh():
    import sys

    from tools import gen_protos

    argv = sys.argv
    sys.argv = ["gen_protos", "--check"]
    try:
        assert gen_protos.main() == 0
    finally:
        sys.argv = argv

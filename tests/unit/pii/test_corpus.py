"""The benchmark corpus generator is deterministic and its gold labels are consistent."""

from __future__ import annotations

from bench.pii_corpus import generate

TYPES = {"EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "CA_SIN", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "PERSON", "LOCATION"}


def test_deterministic_and_well_formed() -> None:
    first, second = generate(150, 7), generate(150, 7)
    assert first == second
    assert generate(20, 8) != generate(20, 7)[:20]
    seen = set()
    for doc in first:
        assert set(doc) >= {"id", "text", "entities"}
        previous_end = -1
        for entity in doc["entities"]:
            assert entity["type"] in TYPES
            assert 0 <= entity["start"] < entity["end"] <= len(doc["text"])
            assert entity["start"] >= previous_end  # non-overlapping, sorted
            previous_end = entity["end"]
            seen.add(entity["type"])
    assert seen == TYPES
    kinds = {doc["kind"] for doc in first}
    assert {"lookalike", "no_pii", "wrapped", "upper", "json", "url"} <= kinds


def test_document_corpus_is_deterministic_real_sized_and_names_each_hard_case() -> None:
    from bench.pii_corpus_docs import DEV_SEED, HELD_BACK_SEED, generate_documents

    assert DEV_SEED != HELD_BACK_SEED
    docs = generate_documents(40, DEV_SEED)
    assert docs == generate_documents(40, DEV_SEED)
    assert all(800 <= len(d["text"]) <= 4400 for d in docs)
    classes = {e["cls"] for d in docs for e in d["entities"]}
    for cls in ("email.spaced", "ssn.csv_column", "ssn.json_key", "ssn.context_window", "phone.extension",
                "phone.regional", "address.us", "address.uk", "address.de", "address.fr", "address.de_particle",
                "address.nl", "address.us_particle", "address.fr_particle", "person.signoff"):
        assert cls in classes, cls
    for doc in docs:
        previous_end = -1
        for entity in doc["entities"]:
            assert 0 <= entity["start"] < entity["end"] <= len(doc["text"])
            assert entity["start"] >= previous_end
            previous_end = entity["end"]


def test_independent_corpus_is_deterministic_well_formed_and_shares_no_generator() -> None:
    import ast
    import inspect

    import bench.pii_corpus_indep as indep

    tree = ast.parse(inspect.getsource(indep))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(name.startswith(("bench", "faker")) for name in imported), imported
    assert indep.FIX_SEED != indep.FINAL_SEED
    docs = indep.generate_documents(30, indep.FIX_SEED)
    assert docs == indep.generate_documents(30, indep.FIX_SEED)
    assert all(800 <= len(d["text"]) <= 4500 for d in docs)
    for doc in docs:
        previous_end = -1
        for entity in doc["entities"]:
            assert 0 <= entity["start"] < entity["end"] <= len(doc["text"])
            assert entity["start"] >= previous_end
            previous_end = entity["end"]
    kinds = {d["kind"] for d in indep.generate_documents(120, indep.FIX_SEED)}
    assert {"markdown", "reply_chain", "ocr_letter", "fixed_width", "xml", "sms"} <= kinds

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

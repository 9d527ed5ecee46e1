"""Pure parts of replay: filter semantics and index naming."""
from __future__ import annotations

from services.audit.live import es_layout
from services.audit.live.projections import subject_ids
from services.audit.tools.replay_filter import ReplayFilter


def doc(**kw):
    return {"workflow_id": "wf-1", "occurred_at": 1_000, "subject_ids": ["s-1"], **kw}


def test_empty_filter_is_full_and_matches_everything():
    f = ReplayFilter()
    assert f.is_full and f.matches(doc()) and f.es_query() == {"match_all": {}}


def test_filters_combine():
    f = ReplayFilter(from_ms=500, to_ms=1_500, workflows=("wf-1",), subjects=("s-1",))
    assert f.matches(doc())
    assert not f.matches(doc(occurred_at=1_500)), "to is exclusive"
    assert not f.matches(doc(occurred_at=499))
    assert not f.matches(doc(workflow_id="wf-2"))
    assert not f.matches(doc(subject_ids=["s-2"]))
    assert ReplayFilter.from_json(f.to_json()) == f
    q = f.es_query()["bool"]["filter"]
    assert {"terms": {"workflow_id": ["wf-1"]}} in q and {"terms": {"subject_ids": ["s-1"]}} in q


def test_monthly_index_names_per_generation():
    ms = 1_795_000_000_000  # 2026-11
    assert es_layout.index_name("uf-audit-events", ms, 0) == "uf-audit-events-2026.11"
    assert es_layout.index_name("uf-audit-events", ms, 3) == "uf-audit-events-2026.11-r3"
    assert es_layout.generation_of("uf-audit-events-2026.11-r3") == 3
    assert es_layout.generation_of("uf-audit-events-2026.11") == 0


def test_subject_ids_found_at_any_depth():
    data = {"contacts": [{"subject_id": "a"}, {"subject_id": "b"}], "subject_id": "c", "x": {"subject_id": ""}}
    assert subject_ids(data) == {"a", "b", "c"}


def test_a_copy_read_before_its_original_is_still_named_the_copy():
    """Partitions interleave in any order while the verifier reads: the copy of signed bytes
    written later is the duplicate, even when its partition is read first."""
    from services.audit.tools.integrity import LogFacts
    facts = LogFacts()
    facts.observe("t", 8, 746, b"wf", b"same bytes", "k", True, timestamp=2000)  # the copy, read first
    facts.observe("t", 7, 582, b"wf", b"same bytes", "k", True, timestamp=1000)  # the original
    assert facts.duplicates == [{"kind": "same-signed-bytes", "first": {"topic": "t", "partition": 7, "offset": 582},
                                 "topic": "t", "partition": 8, "offset": 746}]

"""Matching a MirrorMaker copy to the attested entries by content (services/audit/tools/mirror_check.py):
its offsets are its own, records may repeat, and what it lacks is lost (past its end) or a hole."""
from __future__ import annotations

from services.audit.evidence.checkpoint import Entry
from services.audit.tools.mirror_check import align


def attested(*names: str, first: int = 10) -> list[Entry]:
    # primary offsets with gaps (transaction markers take offsets on the primary, not on a mirror)
    return [Entry(first + 2 * i, 0, n.encode()) for i, n in enumerate(names)]


def mirror(*names: str) -> list[tuple[int, bytes]]:
    return [(i, n.encode()) for i, n in enumerate(names)]


def test_a_faithful_mirror_matches_everything_despite_other_offsets():
    a = align(attested("a", "b", "c"), mirror("a", "b", "c", "d"))
    assert (a.matched, a.holes, a.lost, a.inserted, a.unattested) == (3, [], [], [], 1)
    assert a.mirrored_through == 14


def test_a_record_written_twice_is_a_duplicate_not_an_insertion():
    a = align(attested("a", "b", "c"), mirror("a", "b", "b", "c", "c"))
    assert (a.matched, a.duplicates, a.inserted, a.holes) == (3, 2, [], [])


def test_a_mirror_that_stopped_early_reports_the_attested_tail_as_lost():
    a = align(attested("a", "b", "c", "d"), mirror("a", "b"))
    assert a.matched == 2 and a.lost == [14, 16] and a.holes == [] and a.mirrored_through == 12


def test_altered_deleted_and_inserted_records_are_failures():
    a = align(attested("a", "b", "c", "d"), mirror("a", "X", "c", "d"))  # b altered into X
    assert a.holes == [12] and a.inserted == [1] and a.lost == []
    a = align(attested("a", "b", "c"), mirror("a", "c"))                 # b deleted
    assert a.holes == [12] and a.inserted == []
    a = align(attested("a", "b"), mirror("a", "Z", "b"))                 # Z slipped in
    assert a.inserted == [1] and a.holes == []


def test_an_empty_mirror_lost_everything():
    a = align(attested("a", "b"), [])
    assert a.lost == [10, 12] and a.mirrored_through is None

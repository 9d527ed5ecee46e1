"""Classifying log discrepancies against attested manifests."""
from __future__ import annotations

import hashlib

from services.audit.evidence.checkpoint import Entry
from services.audit.evidence.diff import compare


def c(i: int) -> bytes:
    return hashlib.sha256(b"record%d" % i).digest()


def log_of(contents, start=0):
    return [Entry(start + n, 1000 + n, x) for n, x in enumerate(contents)]


ATTESTED = log_of([c(i) for i in range(20)])


def test_identical_log_is_clean_and_extra_tail_is_pending():
    d = compare(ATTESTED, log_of([c(i) for i in range(23)]))
    assert d.clean and d.pending == 3 and not d.renumbered


def test_modified_in_place():
    contents = [c(i) for i in range(20)]
    contents[5] = c(99)
    d = compare(ATTESTED, log_of(contents))
    assert d.modified == [(5, 5)] and not d.deleted and not d.inserted and not d.reordered


def test_deleted_by_recreating_the_topic_without_some_records():
    contents = [c(i) for i in range(20) if i not in (3, 4, 15)]
    d = compare(ATTESTED, log_of(contents))
    assert d.deleted == [3, 4, 15] and not d.modified and not d.inserted and not d.reordered
    assert (19, 16) in d.renumbered


def test_inserted_inside_the_attested_range():
    contents = [c(i) for i in range(20)]
    contents.insert(10, c(77))
    d = compare(ATTESTED, log_of(contents))
    assert d.inserted == [10] and not d.deleted and not d.modified


def test_swapped_pair_is_one_reordered_record():
    contents = [c(i) for i in range(20)]
    contents[7], contents[8] = contents[8], contents[7]
    d = compare(ATTESTED, log_of(contents))
    assert len(d.reordered) == 1 and d.reordered[0][0] in (7, 8)
    assert not d.deleted and not d.inserted and not d.modified


def test_everything_at_once():
    contents = [c(i) for i in range(20)]
    contents[2] = c(50)                          # modified
    contents[12], contents[13] = contents[13], contents[12]  # reordered
    contents.insert(17, c(60))                   # inserted (before original 17)
    contents = [x for n, x in enumerate(contents) if n not in (7, 8)]  # deleted 7, 8
    d = compare(ATTESTED, log_of(contents))
    assert d.modified == [(2, 2)]
    assert d.deleted == [7, 8]
    assert len(d.reordered) == 1 and d.reordered[0][0] in (12, 13)
    assert d.inserted == [15]


def test_retention_expiry_is_not_deletion_but_early_truncation_is():
    old = [Entry(i, 1000 + i, c(i)) for i in range(10)]
    d = compare(old, old[4:], log_start=4, retention_ms=500, now_ms=10_000)
    assert d.expired == 4 and d.clean
    d = compare(old, old[4:], log_start=4, retention_ms=-1, now_ms=10_000)
    assert d.deleted == [0, 1, 2, 3]


def test_truncated_tail_is_deleted():
    d = compare(ATTESTED, log_of([c(i) for i in range(15)]))
    assert d.deleted == [15, 16, 17, 18, 19]

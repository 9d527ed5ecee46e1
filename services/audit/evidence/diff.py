"""Comparing what the checkpoints attest (expected: offset, timestamp, content hash per record)
with what the log holds now (actual), to name each discrepancy:

* modified  - an attested record's slot now holds different content;
* deleted   - attested content is gone (also: cut off the head of the log before its retention);
* inserted  - content that was never attested sits inside the attested range;
* reordered - attested content is present but out of order;
* renumbered (info) - attested content in order but at another offset (what deleting records
  and re-producing the rest does); pending (info) - records after the last checkpoint.

Matching is by content hash; the in-order part is the longest increasing subsequence of the
matched positions, so one moved record is reported once, not as everything after it.
"""
from __future__ import annotations

import bisect
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from services.audit.evidence.checkpoint import Entry


@dataclass
class Diff:
    modified: list[tuple[int, int]] = field(default_factory=list)   # (attested offset, current offset)
    deleted: list[int] = field(default_factory=list)                # attested offsets
    inserted: list[int] = field(default_factory=list)               # current offsets
    reordered: list[tuple[int, int]] = field(default_factory=list)  # (attested offset, current offset)
    renumbered: list[tuple[int, int]] = field(default_factory=list)
    expired: int = 0
    pending: int = 0

    @property
    def clean(self) -> bool:
        return not (self.modified or self.deleted or self.inserted or self.reordered)


def _lis(values: Sequence[int]) -> set[int]:
    """Indices (into `values`) of one longest strictly increasing subsequence."""
    tails: list[int] = []
    tails_idx: list[int] = []
    prev = [-1] * len(values)
    for i, v in enumerate(values):
        k = bisect.bisect_left(tails, v)
        if k == len(tails):
            tails.append(v)
            tails_idx.append(i)
        else:
            tails[k] = v
            tails_idx[k] = i
        prev[i] = tails_idx[k - 1] if k else -1
    out: set[int] = set()
    i = tails_idx[-1] if tails_idx else -1
    while i >= 0:
        out.add(i)
        i = prev[i]
    return out


def compare(expected: Sequence[Entry], actual: Sequence[Entry], *, log_start: int = 0,
            retention_ms: int = -1, now_ms: int = 0) -> Diff:
    d = Diff()
    live: list[Entry] = []
    for e in expected:
        if e.offset < log_start:
            if retention_ms >= 0 and e.timestamp <= now_ms - retention_ms:
                d.expired += 1
            else:
                d.deleted.append(e.offset)  # cut off the head before its time
        else:
            live.append(e)
    if not live:
        d.pending = len(actual)
        return d
    last_attested = live[-1].offset
    where: dict[bytes, deque[int]] = defaultdict(deque)
    for j, a in enumerate(actual):
        where[a.content].append(j)
    pairs: list[tuple[int, int]] = []  # (index in live, index in actual)
    for i, e in enumerate(live):
        q = where.get(e.content)
        if q:
            pairs.append((i, q.popleft()))
    in_order = _lis([j for _, j in pairs])
    anchors: list[tuple[int, int]] = []
    for k, (i, j) in enumerate(pairs):
        if k in in_order:
            anchors.append((i, j))
            if live[i].offset != actual[j].offset:
                d.renumbered.append((live[i].offset, actual[j].offset))
        else:
            d.reordered.append((live[i].offset, actual[j].offset))
    matched_e = {i for i, _ in pairs}
    matched_a = {j for _, j in pairs}
    bounds_ = [(-1, -1), *anchors, (len(live), len(actual))]
    for (i0, j0), (i1, j1) in zip(bounds_, bounds_[1:]):
        gone = [live[i].offset for i in range(i0 + 1, i1) if i not in matched_e]
        extra = [actual[j].offset for j in range(j0 + 1, j1) if j not in matched_a]
        if i1 == len(live):  # after the last anchor: beyond the attested range is just pending
            d.pending = sum(1 for o in extra if o > last_attested)
            extra = [o for o in extra if o <= last_attested]
        n = min(len(gone), len(extra))
        d.modified += list(zip(gone[:n], extra[:n]))
        d.deleted += gone[n:]
        d.inserted += extra[n:]
    d.deleted.sort()
    d.inserted.sort()
    return d

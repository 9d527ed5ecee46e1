"""Overlap resolution.

Why: several recognizers may claim the same characters (a SIN that also
parses as a German phone number, an IPv4 tail inside an IPv6 address, a
spaCy PERSON inside an e-mail local part).  Consumers want one finding per
region, and redaction must cover every character any recognizer flagged, so
overlapping findings are merged into their union and labelled with the most
trusted type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from uf_pii.finding import Finding

# Tie-break when two overlapping findings have the same score and width:
# checksum-validated types first, fuzzy NER types last.
TYPE_PRIORITY: Mapping[str, int] = {
    "CREDIT_CARD": 0,
    "IBAN_CODE": 1,
    "US_SSN": 2,
    "CA_SIN": 3,
    "EMAIL_ADDRESS": 4,
    "IP_ADDRESS": 5,
    "PHONE_NUMBER": 6,
    "STREET_ADDRESS": 7,
    "PERSON": 20,
    "LOCATION": 21,
}


def _rank(finding: Finding) -> tuple[float, int, int]:
    return (finding.score, finding.length, -TYPE_PRIORITY.get(finding.type, 10))


def merge_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    """Merge every group of transitively overlapping findings into one.

    The merged finding spans the union of the group (so redaction never leaves
    a fragment behind) and takes ``type``, ``score`` and ``recognizer`` from the
    group's best member: highest score, then widest span, then
    :data:`TYPE_PRIORITY`.  Touching spans (``a.end == b.start``) do not
    overlap and stay separate.  The result is sorted by ``start``.
    """
    ordered = sorted(findings, key=lambda f: (f.start, -f.end))
    if len(ordered) < 2:
        return ordered
    merged: list[Finding] = []
    group: list[Finding] = [ordered[0]]
    group_end = ordered[0].end
    for finding in ordered[1:]:
        if finding.start < group_end:
            group.append(finding)
            group_end = max(group_end, finding.end)
            continue
        merged.append(_collapse(group, group_end))
        group = [finding]
        group_end = finding.end
    merged.append(_collapse(group, group_end))
    return merged


def _collapse(group: list[Finding], group_end: int) -> Finding:
    if len(group) == 1:
        return group[0]
    best = max(group, key=_rank)
    start = group[0].start
    explain = best.explain
    if explain is not None:
        losers = tuple(f"{f.type}/{f.recognizer}@{round(f.score, 4)}" for f in group if f is not best)
        explain = replace(explain, overruled=explain.overruled + losers)
    return replace(best, start=start, end=group_end, explain=explain)

"""Which topics are audited: every declared topic except raw/internal ones, plus topics matching
the configured extra pattern (scratch topics). One definition for the service and the verifier."""
from __future__ import annotations

import re
from collections.abc import Iterable

from services.kit.contracts import topics


def audited(existing: Iterable[str], extra_pattern: str = "") -> list[str]:
    """Declared audited topics that exist, plus existing topics matching `extra_pattern`."""
    existing = set(existing)
    chosen = {t for t in topics.audited_topics() if t in existing}
    if extra_pattern:
        rx = re.compile(extra_pattern)
        chosen |= {t for t in existing if rx.search(t) and t not in topics.NOT_AUDITED}
    return sorted(chosen)

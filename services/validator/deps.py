"""Everything a rule may consult, bundled so rules stay plain functions of a Context."""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from services.kit.security.jwt_tokens import TokenVerifier
from services.validator.audit_progress import ProgressWaiter
from services.validator.pii_client import PiiClient
from services.validator.store import FactStore


@dataclass
class Dependencies:
    store: FactStore
    barrier: Callable[[], Awaitable[bool]]  # True once the projections have caught up with the log
    pii: PiiClient
    tokens: TokenVerifier
    audit_progress: ProgressWaiter  # wakes the audit gates when the trail has moved
    clock: Callable[[], float] = field(default=time.time)  # seconds; recorded, so a decision can be re-made later

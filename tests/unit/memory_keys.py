"""The KeyStore interface in memory, for pure-logic unit tests (Redis backs it in the suite)."""
from __future__ import annotations

import os


class MemoryKeys:
    def __init__(self) -> None:
        self.keys: dict[str, tuple[str, bytes]] = {}

    def get(self, subject_id: str) -> tuple[str, bytes] | None:
        return self.keys.get(subject_id)

    def get_or_create(self, subject_id: str, retention_s: int | None = None) -> tuple[str, bytes]:
        return self.keys.setdefault(subject_id, (os.urandom(4).hex(), os.urandom(32)))

    def delete(self, subject_id: str) -> bool:
        return self.keys.pop(subject_id, None) is not None

    async def warm(self, subject_ids: object) -> None:
        """Nothing to fetch: every key is in memory."""

    def expired(self, now: float | None = None, limit: int = 100) -> list[str]:
        return []

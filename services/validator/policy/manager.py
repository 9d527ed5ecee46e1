"""Which policy decides right now. The active version is event-sourced (`PolicyActivated` on
`uf.policy`, projected into Redis), so every switch and rollback is in the audit trail. A switch
to a version that is missing or invalid is refused: the previous policy stays in force."""
from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis
from prometheus_client import Counter, Gauge

from services.kit.contracts.keys import POLICY_ACTIVE as ACTIVE_KEY
from services.validator.policy.loader import PolicyLibrary
from services.validator.policy.model import Policy

log = logging.getLogger(__name__)
RELOAD_ERRORS = Counter("uf_policy_reload_errors_total", "Policy files or activations refused")
ACTIVE_INFO = Gauge("uf_policy_active", "1 for the policy version in force", ["policy_version"])


class PolicyManager:
    def __init__(self, library: PolicyLibrary, redis: aioredis.Redis, default_version: str = "") -> None:
        self.library, self.redis = library, redis
        self.library.refresh()
        if not self.library.versions:
            raise RuntimeError(f"no valid policy in {library.directory}: {library.errors}")
        version = default_version or sorted(self.library.versions)[-1]
        if version not in self.library.versions:
            raise RuntimeError(f"default policy {version!r} not found or invalid: {library.errors}")
        self._active: Policy = self.library.versions[version].policy
        self.refused: str = ""
        self._set_gauge()

    def _set_gauge(self) -> None:
        ACTIVE_INFO.clear()
        ACTIVE_INFO.labels(self._active.version).set(1)

    async def current(self) -> Policy:
        wanted = await self.redis.get(ACTIVE_KEY)
        if wanted is not None and wanted.decode() != self._active.version:
            version = wanted.decode()
            loaded = self.library.versions.get(version)
            if loaded is None:
                if self.refused != version:
                    self.refused = version
                    RELOAD_ERRORS.inc()
                    log.error("policy activation refused; previous stays active",
                              extra={"requested": version, "active": self._active.version,
                                     "error": self.library.errors.get(f"{version}.yaml", "version not found")})
            else:
                log.info("policy switched", extra={"from": self._active.version, "to": version})
                self._active, self.refused = loaded.policy, ""
                self._set_gauge()
        return self._active

    def sha256_of(self, version: str) -> str:
        """SHA-256 of the policy file a decision was made under ("" if unknown): recorded with the
        decision so an auditor can tell which exact bytes decided."""
        loaded = self.library.versions.get(version)
        return loaded.sha256 if loaded else ""

    async def watch(self, interval_s: float = 1.0) -> None:
        """Hot reload: pick up new policy files while running."""
        while True:
            for change in await asyncio.to_thread(self.library.refresh):
                if change.startswith("rejected"):
                    RELOAD_ERRORS.inc()
                    log.error("policy file rejected", extra={"detail": change})
                else:
                    log.info("policy file", extra={"detail": change})
            await asyncio.sleep(interval_s)

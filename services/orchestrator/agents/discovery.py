"""BATCH_DISCOVERY: the recipients of the campaign are the request's contacts that opted in,
have a plausible address, and appear once (case-insensitive address)."""
from __future__ import annotations

import re
from typing import Any

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


class DiscoveryAgent:
    name = "builtin.discovery"
    phase = "BATCH_DISCOVERY"

    def run(self, task_input: dict[str, Any]) -> dict[str, Any]:
        recipients: list[dict[str, Any]] = []
        seen: set[str] = set()
        excluded = {"not_opted_in": 0, "invalid_address": 0, "duplicate": 0}
        for c in task_input["contacts"]:
            address = c["email"].strip().lower()
            if not c.get("opted_in", True):
                excluded["not_opted_in"] += 1
            elif not EMAIL.match(address):
                excluded["invalid_address"] += 1
            elif address in seen:
                excluded["duplicate"] += 1
            else:
                seen.add(address)
                recipients.append({**c, "email": address})
        return {"recipients": recipients, "excluded": excluded}

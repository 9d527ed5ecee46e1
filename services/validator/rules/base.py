"""What a rule sees (`Context`) and how rules are registered."""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services.kit.rpc import validator_pb2
from services.kit.runtime.plugins import Registry

if TYPE_CHECKING:
    from services.validator.deps import Dependencies
    from services.validator.policy.model import Policy

Outcome = tuple[bool, str]
Rule = Callable[["Context"], Awaitable[Outcome]]
# Third-party rules register themselves from a module listed under this entry-point group.
RULES: Registry[Rule] = Registry("validation rule", "universal_framework.rules")


def rule(name: str) -> Callable[[Rule], Rule]:
    return RULES.decorator(name)


@dataclass
class Context:
    request: validator_pb2.ValidateTransitionRequest
    policy: Policy
    deps: Dependencies

    @property
    def snapshot(self) -> validator_pb2.WorkflowSnapshot:
        return self.request.snapshot

    def fact(self, name: str, default: Any = None) -> Any:
        """Phase outputs the orchestrator passes as JSON strings in `snapshot.facts`."""
        raw = self.snapshot.facts.get(name)
        return default if raw is None else json.loads(raw)

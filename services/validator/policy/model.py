"""The policy file schema. Loading is strict: an unknown rule, phase or key is an error at load
time, never a surprise at decision time."""
from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.kit.contracts.phases import Phase
from uf_pii import DataClass

# Levels are the PII library's DataClass names (uf_pii.classification owns the table).
Classification = Literal["PUBLIC", "INTERNAL", "CONFIDENTIAL", "RESTRICTED"]
assert set(get_args(Classification)) == {c.name for c in DataClass}, "policy levels follow uf_pii.DataClass"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Thresholds(Strict):
    max_classification: dict[Phase, Classification] = Field(default_factory=dict)
    max_recipients: int = Field(default=10_000, ge=1)


class Lists(Strict):
    purposes_allowed: list[str] = Field(min_length=1)
    sender_domains_denied: list[str] = Field(default_factory=list)
    denied_terms: list[str] = Field(default_factory=list)
    templates_allowed: list[str] = Field(default_factory=list)
    # Campaign goals this policy allows. The policy owns them, not the strategy agent, so a
    # replacement agent can serve a new goal once a policy version lists it. None: a policy
    # written before goal lists existed (2026.11.1) does not restrict goals.
    campaign_goals: list[str] | None = None


class AutoApproval(Strict):
    """Workflows of this purpose whose outgoing content is at most this data class may skip
    human review (when their requester asks for it)."""
    purpose: str
    max_classification: Classification = "INTERNAL"


class ReviewPolicy(Strict):
    four_eyes: bool = True
    # Legacy switch (policies before 2026.12.1): automatic approval for any purpose and class.
    auto_approve_allowed: bool = False
    reviewer_role: str = "reviewer"  # the identity provider's role a reviewer must hold
    auto_approve: list[AutoApproval] = Field(default_factory=list)


class RetryPolicy(Strict):
    """How long a workflow may wait for a decision that could not be had for a transient reason
    (validator busy, a dependency down) before it ends FAILED. Minutes, not seconds: overload
    and short outages are back-pressure, not verdicts."""

    budget_s: float = Field(600.0, ge=1.0, le=7 * 24 * 3600)


class Policy(Strict):
    version: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    description: str = ""
    rules: dict[Phase, list[str]]
    thresholds: Thresholds = Thresholds()
    lists: Lists
    review: ReviewPolicy = ReviewPolicy()
    retry: RetryPolicy = RetryPolicy()

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, rules: dict[Phase, list[str]]) -> dict[Phase, list[str]]:
        from services.validator.rules import RULES  # the registry of rule plug-ins

        for phase, names in rules.items():
            unknown = [n for n in names if n not in RULES]
            if unknown:
                raise ValueError(f"unknown rule(s) {unknown} for {phase.value}; known: {sorted(RULES)}")
        return rules

    def rules_for(self, phase: Phase) -> list[str]:
        return list(self.rules.get(phase, []))

"""REVIEW: a real decision by someone entitled to give it.

The reviewer's identity and roles reach the validator from a `ReviewDecided` that the
orchestrator admitted only from the reviewer ingress (signed by a declared producer, ADR 0006),
which verified the reviewer's token. Here the policy decides: the reviewer must hold the
policy's reviewer role, may not be the requester (four-eyes, on normalised identities), and an
automatic approval passes only for a purpose and data class the policy lists."""
from __future__ import annotations

from services.kit.security.identity import same_person
from services.validator.rules.base import Context, Outcome, rule
from uf_pii import DataClass

AUTO = "policy:auto-approve"


def _reviewer_problem(ctx: Context) -> str:
    s, review = ctx.snapshot, ctx.policy.review
    if not s.reviewer_id:
        return "no reviewer"
    if s.reviewer_id.startswith("policy:"):
        return "an automatic reviewer cannot decide this"
    if review.reviewer_role not in ctx.fact("reviewer_roles", []):
        return f"reviewer does not hold the {review.reviewer_role!r} role"
    return ""


async def _auto_approval(ctx: Context) -> Outcome:
    s, review = ctx.snapshot, ctx.policy.review
    if not s.auto_approve:
        return False, "automatic approval not requested"
    if review.auto_approve_allowed and not review.auto_approve:
        return True, "auto-approved (policy allows it for every purpose)"
    entry = next((a for a in review.auto_approve if a.purpose == s.purpose), None)
    if entry is None:
        return False, f"automatic approval not allowed by policy for purpose {s.purpose!r}"
    emails = ctx.fact("emails", [])
    if not emails:
        return False, "no generated output to classify"
    _, classification = await ctx.deps.pii.scan([f"{e['subject']}\n{e['body']}" for e in emails])
    if DataClass.parse(classification) > DataClass.parse(entry.max_classification):
        return False, f"automatic approval not allowed: output is {classification}, policy allows {entry.max_classification}"
    return True, f"auto-approved by policy ({s.purpose}, {classification})"


@rule("human_approval")
async def human_approval(ctx: Context) -> Outcome:
    s, review = ctx.snapshot, ctx.policy.review
    if not s.review_approved:
        return False, "no approving review decision"
    if s.reviewer_id == AUTO:
        return await _auto_approval(ctx)
    problem = _reviewer_problem(ctx)
    if problem:
        return False, problem
    if review.four_eyes and same_person(s.reviewer_id, s.requester_id):
        return False, "four-eyes: the requester cannot approve their own workflow"
    return True, f"approved by {s.reviewer_id}"


@rule("reviewer_authorised")
async def reviewer_authorised(ctx: Context) -> Outcome:
    """A rejection is a decision too: only a reviewer may make it (not configurable: the
    validator adds this rule to every rejection in review)."""
    if ctx.snapshot.review_approved:
        return False, "not a rejection"
    problem = _reviewer_problem(ctx)
    return (False, problem) if problem else (True, f"rejected by {ctx.snapshot.reviewer_id}")

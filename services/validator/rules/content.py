"""The enterprise rule engine's content rules: purpose and sender policy, strategy sanity,
denied terms, allowed templates, sanitised output."""
from __future__ import annotations

import re

from services.validator.rules.base import Context, Outcome, rule

_TEMPLATE_ARTIFACT = re.compile(r"\{\{|\}\}|\{%|%\}|<script", re.IGNORECASE)


def _denied_terms(ctx: Context, texts: list[str]) -> list[str]:
    lowered = [t.lower() for t in texts]
    return [term for term in ctx.policy.lists.denied_terms if any(term.lower() in t for t in lowered)]


@rule("policy_check")
async def policy_check(ctx: Context) -> Outcome:
    lists = ctx.policy.lists
    if ctx.snapshot.purpose not in lists.purposes_allowed:
        return False, f"purpose {ctx.snapshot.purpose!r} not allowed by policy"
    if lists.campaign_goals is not None:
        goal = str(ctx.fact("goal", ""))
        if goal not in lists.campaign_goals:
            return False, f"campaign goal {goal!r} not allowed by policy (allowed: {sorted(lists.campaign_goals)})"
    domain = str(ctx.fact("sender_domain", "")).lower()
    if not domain or domain in {d.lower() for d in lists.sender_domains_denied}:
        return False, f"sender domain {domain or '?'} not allowed by policy"
    return True, "purpose, goal and sender allowed"


@rule("strategy_valid")
async def strategy_valid(ctx: Context) -> Outcome:
    recipients = int(ctx.fact("recipients", 0))
    limit = ctx.policy.thresholds.max_recipients
    if recipients < 1:
        return False, "no recipients to plan for"
    if recipients > limit:
        return False, f"{recipients} recipients exceed the policy limit of {limit}"
    return True, f"{recipients} recipient(s) within limit"


@rule("content_compliance")
async def content_compliance(ctx: Context) -> Outcome:
    found = _denied_terms(ctx, ctx.fact("content", []))
    if found:
        return False, f"campaign uses denied term(s) {found}"
    return True, "no denied terms in the campaign"


@rule("template_valid")
async def template_valid(ctx: Context) -> Outcome:
    chosen = set(ctx.fact("templates", []))
    if not chosen:
        return False, "no templates chosen"
    bad = sorted(chosen - set(ctx.policy.lists.templates_allowed))
    if bad:
        return False, f"template(s) {bad} not allowed by policy"
    return True, f"templates {sorted(chosen)} allowed"


@rule("compliance_review")
async def compliance_review(ctx: Context) -> Outcome:
    emails = ctx.fact("emails", [])
    if not emails:
        return False, "no generated output to review"
    found = _denied_terms(ctx, [e["body"] for e in emails] + [e["subject"] for e in emails])
    if found:
        return False, f"generated output uses denied term(s) {found}"
    return True, f"{len(emails)} email(s) pass the content review"


@rule("output_sanitized")
async def output_sanitized(ctx: Context) -> Outcome:
    emails = ctx.fact("emails", [])
    dirty = sum(1 for e in emails if _TEMPLATE_ARTIFACT.search(e["body"]) or _TEMPLATE_ARTIFACT.search(e["subject"]))
    if not emails or dirty:
        return False, f"{dirty} email(s) contain template or script artifacts" if emails else "no output"
    return True, "output free of template and script artifacts"

"""PII gates, decided by the PII service's engine (gRPC Scan): the request's data class must not
exceed the policy's threshold, and each outgoing email may only carry its own recipient's
address (or the sender organisation's) - never another person's contact data, and never
RESTRICTED data (cards, SSNs, IBANs)."""
from __future__ import annotations

from services.kit.contracts.phases import Phase
from services.validator.rules.base import Context, Outcome, rule
from uf_pii import DEFAULT_LEVELS, DataClass

# One table, one owner: the PII library's classification.
RESTRICTED_TYPES = frozenset(t for t, level in DEFAULT_LEVELS.items() if level is DataClass.RESTRICTED)


def _threshold(ctx: Context, phase: Phase) -> str:
    return ctx.policy.thresholds.max_classification.get(phase, "RESTRICTED")


@rule("pii_classification")
async def pii_classification(ctx: Context) -> Outcome:
    texts = ctx.fact("content", [])
    if not texts:
        return False, "no content to classify"
    # One document instead of many: only the class matters here, and the NER pipeline's cost
    # is dominated by per-document overhead on short texts.
    _, classification = await ctx.deps.pii.scan(["\n".join(texts)])
    limit = _threshold(ctx, Phase(ctx.request.target_phase))
    if DataClass.parse(classification) > DataClass.parse(limit):
        return False, f"request data is {classification}, policy allows at most {limit}"
    return True, f"request data is {classification} (limit {limit})"


@rule("output_privacy")
async def output_privacy(ctx: Context) -> Outcome:
    emails = ctx.fact("emails", [])
    if not emails:
        return False, "no generated output to check"
    texts = [f"{e['subject']}\n{e['body']}" for e in emails]  # one document per email
    per_text, classification = await ctx.deps.pii.scan(texts)
    n = len(emails)
    company = "@" + str(ctx.fact("sender_domain", "")).lower()
    leaks = 0
    for email, text, findings in zip(emails, texts, per_text):
        for f in findings:
            value = text[f.start:f.end].strip().lower()
            own_or_company = value == email["recipient"].lower() or (company != "@" and value.endswith(company))
            if f.type in RESTRICTED_TYPES or f.type == "PHONE_NUMBER" or (f.type == "EMAIL_ADDRESS" and not own_or_company):
                leaks += 1
    if leaks:
        return False, f"{leaks} PII finding(s) in generated output beyond each recipient's own address"
    limit = _threshold(ctx, Phase.DELIVERY)
    if DataClass.parse(classification) > DataClass.parse(limit):
        return False, f"output is {classification}, policy allows at most {limit}"
    return True, f"{n} email(s) carry no third-party PII"

"""Who is asking: a valid signed token, and a session that belongs to that user."""
from __future__ import annotations

from services.validator.rules.base import Context, Outcome, rule


@rule("authenticated")
async def authenticated(ctx: Context) -> Outcome:
    claims, problem = ctx.deps.tokens.verify(ctx.request.actor.auth_token)
    if problem:
        return False, problem
    if claims.get("sub") != ctx.request.actor.user_id:
        return False, "token subject is not the actor"
    return True, "token valid"


@rule("session_ownership")
async def session_ownership(ctx: Context) -> Outcome:
    sid, actor = ctx.snapshot.session_id, ctx.request.actor.user_id
    if not sid or not actor:
        return False, "session id and actor are required"
    session = await ctx.deps.store.session(sid)
    if session is None and await ctx.deps.barrier():
        session = await ctx.deps.store.session(sid)
    if session is None:
        return False, "session unknown"
    if session["user_id"] != actor:
        return False, "session is not owned by the requesting user"
    if int(session.get("expires_at", "0")) < int(ctx.deps.clock() * 1000):
        return False, "session expired"
    return True, "session owned by the actor"

"""One spelling per person: identities are compared only after normalisation.

An identity is the identity provider's subject (`sub` of a verified token), never a display
string. `alice-x`, `ALICE-x` and `ａｌｉｃｅ-x` (full-width) are the same person to the four-eyes
rule, so every comparison goes through `normalise` (Unicode NFKC, then case folding, then
surrounding whitespace dropped)."""
from __future__ import annotations

import hashlib
import unicodedata


def normalise(identity: str) -> str:
    return unicodedata.normalize("NFKC", identity).casefold().strip()


def same_person(a: str, b: str) -> bool:
    return bool(a) and normalise(a) == normalise(b)


def token_hash(token: str) -> str:
    """What is kept of a bearer token once verified: enough to match it, never to replay it."""
    return hashlib.sha256(token.encode()).hexdigest()

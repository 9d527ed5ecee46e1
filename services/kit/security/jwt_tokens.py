"""Signed bearer tokens (JWT, HS256) for users: issued by an identity provider (locally: `ufctl
token issue`), verified by the validator. The key is read from a file so it can be a mounted
secret; locally a random key is created on first use under var/keys/ (never a built-in default)."""
from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

import jwt

from services.kit.runtime import paths

DEFAULT_KEY_FILE = paths.KEYS / "jwt-hs256.key"
AUDIENCE = "universal-framework"
ALGORITHM = "HS256"


def key_file() -> Path:
    return Path(os.environ.get("UF_AUTH_KEY_FILE", DEFAULT_KEY_FILE))


def load_key(create: bool = False) -> bytes | None:
    path = key_file()
    if not path.exists():
        if not create:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return bytes.fromhex(path.read_text().strip())


def issue(user_id: str, ttl_s: int = 3600, audience: str = AUDIENCE, now: float | None = None,
          roles: list[str] | None = None) -> str:
    """`roles` (e.g. ["reviewer"]) is the identity provider's statement of what the user may do;
    the policy names the role a reviewer needs."""
    key = load_key(create=True)
    assert key is not None
    t = int(now if now is not None else time.time())
    claims: dict[str, Any] = {"sub": user_id, "aud": audience, "iat": t, "exp": t + ttl_s}
    if roles:
        claims["roles"] = list(roles)
    return jwt.encode(claims, key, algorithm=ALGORITHM)


class TokenVerifier:
    def __init__(self, key: bytes | None, audience: str = AUDIENCE, leeway_s: int = 5) -> None:
        self.key, self.audience, self.leeway_s = key, audience, leeway_s

    def verify(self, token: str) -> tuple[dict[str, Any], str]:
        """(claims, "") when valid, else ({}, reason). Reasons never echo the token."""
        if self.key is None:
            return {}, "no token verification key configured"
        if not token:
            return {}, "no token"
        try:
            claims = jwt.decode(token, self.key, algorithms=[ALGORITHM], audience=self.audience, leeway=self.leeway_s,
                                options={"require": ["exp", "sub", "aud"]})
        except jwt.ExpiredSignatureError:
            return {}, "token expired"
        except jwt.InvalidAudienceError:
            return {}, "token audience mismatch"
        except jwt.InvalidSignatureError:
            return {}, "token signature invalid"
        except jwt.PyJWTError as exc:
            return {}, f"token invalid ({exc.__class__.__name__})"
        return claims, ""

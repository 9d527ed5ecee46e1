"""Redis ACL users: one per service, the CLI and an admin, with exactly the keys and channels of
the key layout (services/kit/contracts/keys.py) each one reads or writes. Stdlib only: the local
stack (infra/stack.py) writes the server's ACL file from it before the project venv exists.

Rules are Redis 7 ACL syntax: `~pattern` read+write keys, `%R~pattern` read-only keys, `&channel`
pub/sub channels; every user gets `+@all -@dangerous` for commands (no FLUSHALL, CONFIG, KEYS,
ACL, DEBUG, ...), so what a user may touch is decided by its key patterns. A client without
credentials cannot run a single command: the `default` user has a password nobody knows (it is
not `off`: see `default_user_line` for the Redis bug that made `off` lose data). Passwords: one per user, made at
`make up` (infra/stack.py: var/redis-users/<user>.password, 0600), read by the clients through
services/kit/security/redis_auth.py; on Kubernetes from a Secret per service.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import sys
from pathlib import Path

COMMANDS = "+@all -@dangerous"
ADMIN = "admin"  # the stack's probe, tests and break-glass: every key and command

USERS: dict[str, str] = {
    # seals/unseals PII: reads subject keys, drops cached ones when an erasure is announced
    "orchestrator": "%R~uf:subject-key* &uf:subject-key:erased",
    # projects sessions, consent, erasures and policy; its record of allowed transitions; reads
    # the audit projection of a workflow for its audit gates, waits on the audit progress channel
    "validator": ("~uf:session:* ~uf:consent:* ~uf:consent-erased:* ~uf:policy:* ~uf:validator:* "
                  "~uf:projection:validator:* %R~uf:wf:* &uf:audit:progress"),
    # one claim per e-mail; unseals the addresses
    "delivery": "~uf:delivery:* %R~uf:subject-key* &uf:subject-key:erased",
    # the workflow projection (live and replays), checkpoint copies, erasure of subject keys -
    # and scrubbing erased keys from Redis's files (ADR 0011: INFO persistence, BGREWRITEAOF, BGSAVE)
    "audit": ("~uf:wf:* ~uf:audit:* ~uf:replay:* ~uf:subject-key* ~uf:projection:audit:* "
              "&uf:audit:progress &uf:subject-key:erased +info +bgrewriteaof +bgsave"),
    # the operator's CLI and publisher: creates subject keys, erases, reads status, replays,
    # restores (RESTORE of its own dumps, `ufctl dr restore`) - every key of the suite, no other dangerous command
    "ufctl": "~uf:* &uf:* +info +bgrewriteaof +bgsave +restore",
    # the pii service keeps nothing in Redis: no user
}


def default_user_line() -> str:
    """`default` stays unusable by clients - no `nopass`, and a password nobody has (the SHA-256 of
    32 random bytes thrown away at once), so a connection without credentials gets NOAUTH - but it
    is ON with every permission. Redis replays the append-only file as the `default` user and,
    up to Redis 7.2 (redis/redis#14541, fixed by #14545; Debian bookworm ships 7.0.15), re-checks
    each EXEC against that user's ACL: with `default off` every MULTI/EXEC in the AOF - and every
    Lua script, which Redis 7 writes to the AOF as MULTI/EXEC - was silently dropped on restart.
    That lost audit checkpoints (the checkpointer then forked its chain) and could bring an erased
    subject key back (its deletion is a transaction). tests/integration/test_redis_persistence.py
    restarts a server with this ACL and checks both survive."""
    return f"user default on #{hashlib.sha256(secrets.token_bytes(32)).hexdigest()} resetkeys resetchannels ~* &* +@all"


def acl_lines(password_sha256: dict[str, str]) -> list[str]:
    """The server's ACL file: `default` (unusable by clients, see `default_user_line`), then every
    user with its rules and hashed password."""
    lines = [default_user_line()]
    for name, rules in USERS.items():
        lines.append(f"user {name} on #{password_sha256[name]} resetkeys resetchannels {COMMANDS} {rules}")
    lines.append(f"user {ADMIN} on #{password_sha256[ADMIN]} ~* &* +@all")
    return lines


def ensure_passwords(directory: Path) -> dict[str, str]:
    """A password per user in `directory/<user>.password` (made once, 0600); returns their SHA-256."""
    directory.mkdir(parents=True, exist_ok=True)
    hashes = {}
    for user in [*USERS, ADMIN]:
        path = directory / f"{user}.password"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(24))
        hashes[user] = hashlib.sha256(path.read_text().strip().encode()).hexdigest()
    return hashes


def write_acl_file(directory: Path) -> Path:
    """`directory/users.acl` for the server from the passwords in `directory` (hashes only: the
    file may be readable by the server's own user)."""
    acl = directory / "users.acl"
    acl.write_text("\n".join(acl_lines(ensure_passwords(directory))) + "\n")
    return acl


def main(argv: list[str] | None = None) -> int:
    """`python -m services.kit.contracts.redis_users DIR`: passwords + ACL file (docker-compose's
    certs job; infra/stack.py and tools/k8s_dev_secrets.py call the functions)."""
    args = argv if argv is not None else sys.argv[1:]
    directory = Path(args[0]) if args else Path(os.environ.get("UF_VAR_DIR") or "var") / "redis-users"
    print(f"redis users: {write_acl_file(directory)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

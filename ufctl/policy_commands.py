"""`ufctl policy ...` and `ufctl token ...`: put a policy version in force, roll back, inspect;
mint a user token from the local identity-provider key (development stand-in for an IdP)."""
from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path

import redis

from services.kit.contracts.keys import POLICY_ACTIVE as ACTIVE_KEY
from services.kit.contracts.keys import POLICY_HISTORY as HISTORY_KEY
from services.kit.runtime.config import ServiceSettings
from services.kit.security import jwt_tokens as tokens
from services.kit.security import redis_auth
from services.validator.config import ValidatorSettings
from services.validator.policy.loader import PolicyError, PolicyLibrary, load_policy_file
from ufctl import publishing
from ufctl.errors import CliError


def _library() -> PolicyLibrary:
    lib = PolicyLibrary(Path(ValidatorSettings().policy_dir))
    lib.refresh()
    return lib


def _redis() -> redis.Redis:
    return redis.Redis.from_url(ServiceSettings().redis_url, socket_timeout=5, **redis_auth.credentials())


def _activate(version: str, rollback: bool, send) -> None:
    path = Path(ValidatorSettings().policy_dir) / f"{version}.yaml"
    if not path.exists():
        raise CliError(f"no policy file {path}")
    try:
        loaded = load_policy_file(path)
    except PolicyError as exc:
        raise CliError(f"policy refused: {exc}") from None
    send(publishing.policy_event(version, loaded.sha256, getpass.getuser(), rollback))
    print(f"{'rolled back to' if rollback else 'activated'} policy {version} ({loaded.sha256[:12]})")


def cmd_activate(args: argparse.Namespace, send) -> int:
    _activate(args.version, False, send)
    return 0


def cmd_rollback(args: argparse.Namespace, send) -> int:
    try:
        history = [v.decode() for v in _redis().lrange(HISTORY_KEY, 0, -1)]
    except redis.ConnectionError:
        raise CliError("cannot reach Redis (is the stack up? `make up`)") from None
    if len(history) < 2:
        raise CliError("no previous policy version to roll back to")
    current = history[-1]
    previous = next((v for v in reversed(history[:-1]) if v != current), None)
    if previous is None:
        raise CliError("no previous policy version to roll back to")
    _activate(previous, True, send)
    return 0


def cmd_status(args: argparse.Namespace, send) -> int:
    lib = _library()
    try:
        active = _redis().get(ACTIVE_KEY)
    except redis.ConnectionError:
        raise CliError("cannot reach Redis (is the stack up? `make up`)") from None
    status = {"active": active.decode() if active else f"(default: {sorted(lib.versions)[-1] if lib.versions else 'none'})",
              "versions": sorted(lib.versions), "invalid_files": lib.errors}
    print(json.dumps(status, indent=2))
    return 0


def cmd_token(args: argparse.Namespace, send) -> int:
    print(tokens.issue(args.user, ttl_s=int(args.ttl_minutes * 60), roles=args.role or None))
    return 0


def add_policy_commands(sub: argparse._SubParsersAction, send) -> None:
    pol = sub.add_parser("policy", help="enterprise policies (versioned)").add_subparsers(dest="policy_command", required=True)
    s = pol.add_parser("activate", help="put a policy version in force (validated first)")
    s.add_argument("version")
    s.set_defaults(func=lambda a: cmd_activate(a, send))
    s = pol.add_parser("rollback", help="put the previously active version back in force")
    s.set_defaults(func=lambda a: cmd_rollback(a, send))
    s = pol.add_parser("status", help="active version, available versions, invalid files")
    s.set_defaults(func=lambda a: cmd_status(a, send))
    tok = sub.add_parser("token", help="user tokens from the local identity-provider key").add_subparsers(dest="token_command", required=True)
    s = tok.add_parser("issue", help="print a signed token for a user")
    s.add_argument("--user", required=True)
    s.add_argument("--ttl-minutes", type=float, default=60)
    s.add_argument("--role", action="append", help="a role the identity provider grants (repeatable), e.g. reviewer")
    s.set_defaults(func=lambda a: cmd_token(a, send))

"""Who this process is to Redis: the ACL user of its Kafka principal (one identity per process,
services/kit/security/kafka_auth.py) and that user's password.

The users and their key patterns are declared in services/kit/contracts/redis_users.py; the
server's `default` user is off, so a client without credentials cannot run a command, and a
client with another service's credentials touches only that service's keys (NOPERM).

Password: UF_REDIS_PASSWORD_FILE (Kubernetes/compose: a Secret file), else
var/redis-users/<user>.password (made by `make up`). User: UF_REDIS_USERNAME, else the process's
principal. The password is passed as a client argument, never put into UF_REDIS_URL (URLs end up
in error messages). Every Redis client of the suite takes `**credentials()`.
"""
from __future__ import annotations

import os
from pathlib import Path

from services.kit.runtime import paths
from services.kit.security import kafka_auth

USERS_DIR = paths.VAR / "redis-users"


class RedisAuthError(Exception):
    """No password for the user (names the file, never its content)."""


def password_file(user: str) -> Path:
    return Path(os.environ.get("UF_REDIS_PASSWORD_FILE") or Path(os.environ.get("UF_REDIS_USERS_DIR") or USERS_DIR)
                / f"{user}.password")


def credentials(user: str | None = None) -> dict[str, str]:
    """`username=` and `password=` keyword arguments for redis-py clients."""
    name = user or os.environ.get("UF_REDIS_USERNAME") or kafka_auth.identity()
    path = password_file(name)
    try:
        password = path.read_text().strip()
    except OSError:
        raise RedisAuthError(f"cannot read the Redis password {path} (run `make up`, or set UF_REDIS_PASSWORD_FILE)") from None
    return {"username": name, "password": password}

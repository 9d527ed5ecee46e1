"""Redis authenticates and authorises, as the attacks it stops: a client on the network without
credentials, with a wrong password, or with the real credentials of one service tries to read or
rewrite what is not that service's (the audit projection, the checkpoint copies, consent, the
subject keys) or to wipe the store. Redis refuses (NOAUTH / WRONGPASS / NOPERM); the workflows of
the other tests run with the same users in force."""
from __future__ import annotations

import uuid

import pytest
import redis

from services.kit.contracts import keys
from services.kit.security import redis_auth
from tests.integration import helpers as h

pytestmark = pytest.mark.integration


def client(user: str | None, password: str | None = None) -> redis.Redis:
    if user is None:
        return redis.Redis.from_url(h.SETTINGS.redis_url, socket_timeout=5)
    creds = redis_auth.credentials(user)
    return redis.Redis.from_url(h.SETTINGS.redis_url, socket_timeout=5, username=user,
                                password=password if password is not None else creds["password"])


def test_no_credentials_cannot_run_a_command(stack) -> None:
    with pytest.raises(redis.exceptions.AuthenticationError):  # the default user has a password nobody knows: NOAUTH
        client(None).get(keys.POLICY_ACTIVE)


def test_a_wrong_password_is_refused(stack) -> None:
    with pytest.raises(redis.exceptions.AuthenticationError):
        client("audit", password="not-the-password").ping()


@pytest.mark.parametrize(("user", "key"), [
    ("validator", keys.wf_key("wf-forged")),                     # the audit projection: only audit writes it
    ("validator", keys.CHECKPOINT_HEADS),                         # the checkpoint copies
    ("delivery", keys.consent_key("cust-x")),                     # consent: the validator's projection
    ("orchestrator", keys.validator_allowed_key("wf-forged")),   # what the validator allowed
    ("audit", keys.session_key("sess-forged")),                  # sessions
    ("orchestrator", keys.subject_key("cust-x")),                 # subject keys: read-only for it
])
def test_a_service_cannot_write_another_services_keys(stack, user: str, key: str) -> None:
    admin = client("admin")
    kind = admin.type(key)  # the owner may change the value meanwhile (new checkpoints): compare its type
    with pytest.raises(redis.exceptions.NoPermissionError):
        client(user).set(key, "forged")
    assert admin.type(key) == kind
    if kind == b"string":
        assert admin.get(key) != b"forged"


def test_a_service_cannot_read_what_it_does_not_use(stack) -> None:
    subject = f"cust-{uuid.uuid4().hex[:6]}"
    with pytest.raises(redis.exceptions.NoPermissionError):
        client("delivery").hgetall(keys.consent_key(subject))  # who consented to what
    with pytest.raises(redis.exceptions.NoPermissionError):
        client("validator").get(keys.subject_key(subject))     # the keys that unseal PII


def test_a_read_only_service_seals_with_the_existing_key_from_a_cold_cache(stack) -> None:
    """A fresh orchestrator process (a promoted colour) seals under a subject's key before its
    key cache is on: it reads the key ufctl minted; it never mints one (fail closed)."""
    from services.kit.security.subject_keys import RedisKeyStore

    subject = f"cust-{uuid.uuid4().hex[:6]}"
    minted = RedisKeyStore(h.SETTINGS.redis_url, client=client("ufctl")).get_or_create(subject)
    cold = RedisKeyStore(h.SETTINGS.redis_url, cached=True, client=client("orchestrator"))
    assert cold.get_or_create(subject) == minted
    with pytest.raises(redis.exceptions.NoPermissionError):
        cold.get_or_create(f"{subject}-without-a-key")


def test_a_service_may_read_what_its_contract_says(stack) -> None:
    """The validator's audit gates read the audit projection; they may, and only read it."""
    assert client("validator").exists(keys.wf_key(f"wf-{uuid.uuid4().hex[:6]}")) == 0


def test_no_service_may_wipe_or_reconfigure_the_store(stack) -> None:
    for user in ("orchestrator", "validator", "delivery", "audit", "ufctl"):
        with pytest.raises(redis.exceptions.NoPermissionError):
            client(user).flushall()
        with pytest.raises(redis.exceptions.NoPermissionError):
            client(user).config_set("appendonly", "no")

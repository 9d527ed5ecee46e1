"""The Redis ACL users: the default user cannot be used, every service gets only its key patterns, and
every key of the layout (services/kit/contracts/keys.py) has a writer."""
from __future__ import annotations

import fnmatch
from pathlib import Path

from services.kit.contracts import keys, redis_users


def writable(user: str) -> list[str]:
    return [w[1:] for w in redis_users.USERS[user].split() if w.startswith("~")]


def test_default_user_has_no_usable_password_and_passwords_are_hashed(tmp_path: Path) -> None:
    acl = redis_users.write_acl_file(tmp_path).read_text().splitlines()
    # on (Redis replays its AOF as `default`), but never without a password, and a new one each time
    assert acl[0].startswith("user default on #") and "nopass" not in acl[0]
    assert acl[0] != redis_users.write_acl_file(tmp_path).read_text().splitlines()[0]
    for user in redis_users.USERS:
        password = (tmp_path / f"{user}.password").read_text()
        assert password not in "\n".join(acl)                 # only its SHA-256 is in the file
        assert (tmp_path / f"{user}.password").stat().st_mode & 0o077 == 0


def test_only_the_owner_writes_the_keys_whose_forgery_matters() -> None:
    def writers(key: str) -> set[str]:
        return {u for u in redis_users.USERS if u != "ufctl" and any(fnmatch.fnmatchcase(key, p) for p in writable(u))}

    assert writers(keys.wf_key("w")) == {"audit"}
    assert writers(keys.checkpoint_key("t", 0)) == {"audit"}
    assert writers(keys.consent_key("s")) == {"validator"}
    assert writers(keys.validator_allowed_key("w")) == {"validator"}
    assert writers(keys.delivery_key("w", "d")) == {"delivery"}
    assert writers(keys.subject_key("s")) == {"audit"}


def test_every_key_of_the_layout_has_a_writer() -> None:
    samples = [keys.wf_key("w"), keys.history_key("w"), keys.session_key("s"), keys.consent_key("s"),
               keys.consent_erased_key("s"), keys.POLICY_ACTIVE, keys.POLICY_HISTORY, keys.subject_key("s"),
               keys.SUBJECT_KEY_EXPIRY, keys.validator_allowed_key("w"), keys.projection_offsets_key("validator"),
               keys.delivery_key("w", "d"), keys.CHECKPOINT_HEADS, keys.PROJECTION_GENERATION, keys.REPLAY_STATE,
               keys.replay_prefix(1) + "wf:w"]
    services = [u for u in redis_users.USERS if u != "ufctl"]
    for key in samples:
        assert any(fnmatch.fnmatchcase(key, p) for u in services for p in writable(u)), key

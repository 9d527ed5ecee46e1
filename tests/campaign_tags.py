"""Unique tags for test data (shared by the integration helpers and the unit test that keeps
them free of PII)."""
from __future__ import annotations

import secrets
import string


def unique_tag() -> str:
    """Eight random lowercase letters that make a test campaign's ids, addresses and contact
    names unique. Letters only, never hex: the tag is part of each contact's name, so it is in
    every generated email, and a hex tag that happens to be all digits with a leading 0
    (`03451137`, about 1 workflow in 450) reads as a phone number - the validator's
    `output_privacy` rule then rightly denies the delivery and the workflow ends REJECTED
    (seen as "REJECTED on a ReviewDecided" in the rollout tests; tests/unit/test_test_data.py)."""
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(8))

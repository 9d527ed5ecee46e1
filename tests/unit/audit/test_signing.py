"""Record signatures: canonical bytes, key files, trust store, verification reasons, policy."""
from __future__ import annotations

import pytest

from services.audit.evidence.sigpolicy import CHAIN, SIGNED, PolicyError, Rule, SignaturePolicy, load_policy
from services.kit.security import signing


@pytest.fixture
def keys(tmp_path, monkeypatch):
    monkeypatch.delenv("UF_SIGNING_KEY", raising=False)
    return tmp_path


def test_key_file_is_created_once_private_and_its_public_key_is_trusted(keys):
    s1 = signing.load_signer("orchestrator", keys)
    s2 = signing.load_signer("orchestrator", keys)
    assert s1.key_id == s2.key_id and s1.key_id.startswith("orchestrator-")
    assert (keys / "orchestrator.ed25519").stat().st_mode & 0o077 == 0
    trust = signing.TrustStore(keys)
    hdrs = s1.headers("uf.workflow.events", b"wf-1", b"value")
    assert signing.verify_record("uf.workflow.events", b"wf-1", b"value", hdrs, trust) == (True, "ok")


def test_env_seed_wins(keys, monkeypatch):
    monkeypatch.setenv("UF_SIGNING_KEY", "11" * 32)
    a = signing.load_signer("delivery", keys)
    b = signing.load_signer("delivery", keys / "other")
    assert a.key_id == b.key_id
    monkeypatch.setenv("UF_SIGNING_KEY", "zz")
    with pytest.raises(signing.SigningError):
        signing.load_signer("delivery", keys)


def test_signature_covers_topic_key_and_value(keys):
    s = signing.load_signer("validator", keys)
    trust = signing.TrustStore(keys)
    h = s.headers("uf.validation.decisions", b"wf", b"v")
    assert signing.verify_record("uf.validation.decisions", b"wf", b"v2", h, trust) == (False, "bad-signature")
    assert signing.verify_record("uf.validation.decisions", b"wf2", b"v", h, trust) == (False, "bad-signature")
    assert signing.verify_record("uf.workflow.events", b"wf", b"v", h, trust) == (False, "bad-signature")
    assert signing.verify_record("uf.validation.decisions", None, b"v", h, trust) == (False, "bad-signature")


def test_reasons(keys):
    s = signing.load_signer("validator", keys)
    trust = signing.TrustStore(keys)
    h = s.headers("t", b"k", b"v")
    assert signing.verify_record("t", b"k", b"v", [], trust) == (False, "unsigned")
    assert signing.verify_record("t", b"k", b"v", h + h, trust) == (False, "malformed-signature")
    assert signing.verify_record("t", b"k", b"v", [(signing.KEY_HEADER, b"../../etc/passwd"), h[1]], trust) == (False, "malformed-signature")
    assert signing.verify_record("t", b"k", b"v", [(signing.KEY_HEADER, b"x-0000000000000000"), h[1]], trust) == (False, "unknown-key")
    assert signing.verify_record("t", b"k", b"v", [h[0], (signing.SIG_HEADER, b"short")], trust) == (False, "malformed-signature")


def test_pub_file_whose_name_does_not_pin_its_key_is_ignored(keys):
    s = signing.load_signer("audit", keys)
    (keys / f"{s.key_id}.pub").rename(keys / "audit-0000000000000000.pub")
    assert signing.TrustStore(keys).key_ids == []


def test_default_signer_needs_configuration(keys, monkeypatch):
    monkeypatch.setattr(signing, "_default_signer", None)
    monkeypatch.delenv("UF_SIGNING_SERVICE", raising=False)
    monkeypatch.delenv("UF_SERVICE_NAME", raising=False)
    with pytest.raises(signing.SigningError):
        signing.signing_headers("t", b"k", b"v")
    signing.configure_signing("delivery", keys)
    names = [n for n, _ in signing.signing_headers("t", b"k", b"v")]
    assert names == [signing.KEY_HEADER, signing.SIG_HEADER]
    monkeypatch.setattr(signing, "_default_signer", None)


def test_policy_modes():
    p = SignaturePolicy()
    assert p.rule_for("uf.agent.tasks").mode == SIGNED
    assert p.rule_for("uf.consent").mode == SIGNED, "inbox topics are signed by their registered publishers too"
    assert p.rule_for("uf.consent").signers == ("ufctl",)
    assert p.rule_for("uf.unknown").mode == CHAIN
    assert p.judge("uf.workflow.events", 5, False, "unsigned", "") == "unsigned"
    assert p.judge("uf.consent", 5, False, "unsigned", "") == "unsigned"
    assert p.judge("uf.unknown", 5, False, "unsigned", "") == ""
    assert p.judge("uf.unknown", 5, False, "bad-signature", "x") == "bad-signature", "a wrong signature is forged anywhere"
    assert p.judge("uf.workflow.events", 5, True, "ok", "delivery-0123456789abcdef") == "signer-not-allowed"
    grandfathered = SignaturePolicy((Rule("t", SIGNED, signed_since_ms=100),))
    assert grandfathered.judge("t", 99, False, "unsigned", "") == ""
    assert grandfathered.judge("t", 100, False, "unsigned", "") == "unsigned"
    only = SignaturePolicy((Rule("t", SIGNED, signers=("orchestrator",)),))
    assert only.judge("t", 1, True, "ok", "delivery-0123456789abcdef") == "signer-not-allowed"
    assert only.judge("t", 1, True, "ok", "orchestrator-0123456789abcdef") == ""


def test_policy_file(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("default: signed\nrules:\n  - {topic: 'uf.consent', mode: chain}\n")
    p = load_policy(f)
    assert p.rule_for("uf.consent").mode == CHAIN and p.rule_for("x").mode == SIGNED
    f.write_text("rules:\n  - {topic: x, mode: maybe}\n")
    with pytest.raises(PolicyError):
        load_policy(f)


def test_a_key_registered_after_the_verifier_started_is_trusted_at_once(keys):
    """A publisher's first record may arrive a moment after the services started (a fresh stack):
    the trust store sees the new key file without waiting for its periodic reload."""
    trust = signing.TrustStore(keys, reload_s=3600)
    late = signing.load_signer("ufctl", keys)
    hdrs = late.headers("uf.workflow.requests", b"wf-1", b"value")
    assert signing.verify_record("uf.workflow.requests", b"wf-1", b"value", hdrs, trust) == (True, "ok")
    stranger = signing.load_signer("ufctl", keys / "elsewhere")
    bad = stranger.headers("uf.workflow.requests", b"wf-1", b"value")
    assert signing.verify_record("uf.workflow.requests", b"wf-1", b"value", bad, trust) == (False, "unknown-key")


def test_a_verified_signature_is_remembered_but_only_for_the_same_key_signature_and_bytes(keys):
    s = signing.load_signer("audit", keys)
    trust = signing.TrustStore(keys)
    h = s.headers("t", b"k", b"v")
    cache = signing.VERIFIED
    before = cache.hits
    assert signing.verify_record("t", b"k", b"v", h, trust) == (True, "ok")
    assert signing.verify_record("t", b"k", b"v", h, trust) == (True, "ok")
    assert cache.hits == before + 1  # the second reader of the same record pays no verification
    # same signature over other bytes, or on another topic: verified again, and refused
    assert signing.verify_record("t", b"k", b"v2", h, trust) == (False, "bad-signature")
    assert signing.verify_record("t2", b"k", b"v", h, trust) == (False, "bad-signature")
    # the same key id bound to another public key (an in-memory trust): the cache does not vouch
    other = signing.TrustStore(keys / "none")
    other.add(s.key_id, signing.Signer("audit", signing._seed_from_hex("22" * 32)).private.public_key())
    assert signing.verify_record("t", b"k", b"v", h, other) == (False, "bad-signature")


def test_the_verified_cache_is_bounded():
    cache = signing.VerifiedCache(size=3)
    for i in range(5):
        found, entry = cache.verified(b"p", bytes([i]), b"m")
        assert not found
        cache.remember(entry)
    assert not cache.verified(b"p", bytes([0]), b"m")[0] and cache.verified(b"p", bytes([4]), b"m")[0]


def test_libsodium_signatures_are_openssls_and_each_library_accepts_the_others():
    """The per-record path signs and verifies in libsodium; key handling and the independent
    verifier (libs/uf-verify) use OpenSSL through `cryptography`. Ed25519 signing is
    deterministic, so both must produce the same bytes, and each must accept the other's."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    signer = signing.Signer("orchestrator", private)
    raw_pub = signing.raw_public(private.public_key())
    for message in (b"", b"x", signing.canonical_bytes("uf.workflow.events", b"wf-1", b"v" * 5000)):
        sig = signer.sign(message)
        assert sig == private.sign(message)
        private.public_key().verify(sig, message)  # OpenSSL accepts libsodium's signature
        assert signing.ed25519_verify(raw_pub, private.sign(message), message)  # and the reverse
        tampered = bytes([sig[0] ^ 1]) + sig[1:]
        assert not signing.ed25519_verify(raw_pub, tampered, message)
        assert not signing.ed25519_verify(raw_pub, sig, message + b"!")
    other = signing.raw_public(Ed25519PrivateKey.generate().public_key())
    assert not signing.ed25519_verify(other, signer.sign(b"m"), b"m")
    assert not signing.ed25519_verify(raw_pub[:31], signer.sign(b"m"), b"m")
    assert not signing.ed25519_verify(raw_pub, signer.sign(b"m")[:63], b"m")
    assert not signing.ed25519_verify(b"\x00" * 32, b"\x00" * 64, b"m")  # small-order key, zero signature


def test_verifying_many_side_by_side_answers_each_record_in_order(keys):
    """`verify_many` with a pool splits the checks into chunks that run on several threads;
    every answer must still be the answer for its own record."""
    from concurrent.futures import ThreadPoolExecutor

    s = signing.load_signer("orchestrator", keys)
    trust = signing.TrustStore(keys)
    checks = []
    for n in range(300):
        value = f"v{n}".encode()
        hdrs = s.headers("uf.workflow.events", b"wf", value)
        if n in (7, 130, 299):  # altered after signing
            value += b"!"
        check, reason, key_id = signing.resolve_signature("uf.workflow.events", b"wf", value, hdrs, trust)
        assert check is not None and reason == "ok" and key_id == s.key_id
        checks.append(check)
    with ThreadPoolExecutor(max_workers=3) as pool:
        together = signing.verify_many(checks, pool, chunk=16)
    assert together == signing.verify_many(checks) == [n not in (7, 130, 299) for n in range(300)]


def test_a_record_refused_before_any_arithmetic_names_its_reason(keys):
    s = signing.load_signer("orchestrator", keys)
    trust = signing.TrustStore(keys)
    assert signing.resolve_signature("t", b"k", b"v", [], trust) == (None, "unsigned", "")
    hdrs = s.headers("t", b"k", b"v")
    assert signing.resolve_signature("t", b"k", b"v", hdrs + hdrs, trust) == (None, "malformed-signature", "")
    stranger = [(signing.KEY_HEADER, b"orchestrator-00000000deadbeef"), (signing.SIG_HEADER, b"\0" * 64)]
    assert signing.resolve_signature("t", b"k", b"v", stranger, trust) == (None, "unknown-key", "orchestrator-00000000deadbeef")

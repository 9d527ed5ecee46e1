"""Record signatures: every record our services produce carries `uf.sig.key` (key id) and
`uf.sig` (Ed25519 over a canonical encoding of topic, key and value), so an auditor can tell a
record our services wrote from one somebody else put on the topic (or altered, or copied to
another topic: the topic is part of the signed bytes).

Keys, one per producing service:
  * private: 32-byte seed, hex, from `UF_SIGNING_KEY`; locally from `var/keys/<service>.ed25519`,
    created on first use (never a built-in default);
  * public: `<key_id>.pub` (hex of the raw 32-byte key) in `UF_TRUSTED_KEYS_DIR` (default
    `var/keys/`); the local key file writes its own `.pub` there.
A key id is `<service>-<first 8 bytes of SHA-256(public key), hex>`: it names the signer and
pins the exact key, so a stale or swapped `.pub` file is refused.

Wiring (producer side): `configure_signing("orchestrator")` once at start, then
`headers=signing_headers(topic, key, value)` on every send. Verifying: `verify_record(...)`.
Reasons returned are stable codes and never echo record content (it may be PII).

Keys are held and distributed as `cryptography` objects, but the per-record arithmetic - one
signature per produced record, one verification per consumed one, in every service - runs in
libsodium (PyNaCl): the same Ed25519 (RFC 8032; signing is deterministic, so the signatures are
byte for byte those OpenSSL makes - a unit test holds them to it), at about half the CPU per
verification (~80 vs ~150 us here) and two thirds per signature. libsodium's verification is,
if anything, stricter (it also refuses small-order public keys and non-canonical encodings of R
and S). docs/security.md "Record signatures" says why this is as strong.
"""
from __future__ import annotations

import hashlib
import os
import re
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nacl import bindings as sodium
from nacl.exceptions import BadSignatureError

from services.kit.runtime import paths

DEFAULT_KEYS_DIR = paths.KEYS
SIG_HEADER = "uf.sig"
KEY_HEADER = "uf.sig.key"
_DOMAIN = b"uf.record-signature.v1\x00"
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")  # also keeps header-supplied ids out of path tricks
_SERVICE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")

# verify_record reasons (stable codes)
OK = "ok"
UNSIGNED = "unsigned"
MALFORMED = "malformed-signature"
UNKNOWN_KEY = "unknown-key"
BAD_SIGNATURE = "bad-signature"


class SigningError(Exception):
    """Signing is not configured or a key file is unusable. Messages carry no key material."""


def _lp(data: bytes | None) -> bytes:
    """Length-prefixed field; None and b"" differ (a null key is not an empty key)."""
    if data is None:
        return b"\x00"
    return b"\x01" + struct.pack(">I", len(data)) + data


def canonical_bytes(topic: str, key: bytes | None, value: bytes | None) -> bytes:
    """The exact bytes a record signature covers."""
    return _DOMAIN + _lp(topic.encode()) + _lp(None if key is None else bytes(key)) + _lp(None if value is None else bytes(value))


def raw_public(pub: Ed25519PublicKey) -> bytes:
    return pub.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id_for(service: str, pub: Ed25519PublicKey) -> str:
    return f"{service}-{hashlib.sha256(raw_public(pub)).hexdigest()[:16]}"


def trusted_keys_dir() -> Path:
    return Path(os.environ.get("UF_TRUSTED_KEYS_DIR") or DEFAULT_KEYS_DIR)


@dataclass
class Signer:
    """One service's signing key."""

    service: str
    private: Ed25519PrivateKey = field(repr=False)
    _key_id: str = field(default="", init=False, repr=False, compare=False)
    _sodium_sk: bytes = field(default=b"", init=False, repr=False, compare=False)

    @property
    def key_id(self) -> str:
        # computed once: every produced record names it (a SHA-256 and a key export each time before)
        if not self._key_id:
            self._key_id = key_id_for(self.service, self.private.public_key())
        return self._key_id

    @property
    def public_hex(self) -> str:
        return raw_public(self.private.public_key()).hex()

    def sign(self, data: bytes) -> bytes:
        # libsodium's 64-byte secret key (seed || public key), derived once from the same seed
        if not self._sodium_sk:
            self._sodium_sk = sodium.crypto_sign_seed_keypair(self.private.private_bytes_raw())[1]
        return sodium.crypto_sign(data, self._sodium_sk)[:64]

    def headers(self, topic: str, key: bytes | None, value: bytes | None) -> list[tuple[str, bytes]]:
        return [(KEY_HEADER, self.key_id.encode()), (SIG_HEADER, self.sign(canonical_bytes(topic, key, value)))]

    def write_public(self, directory: Path) -> Path:
        """Publish this key's `.pub` so verifiers on this machine trust it."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.key_id}.pub"
        if not path.exists():
            path.write_text(self.public_hex + "\n")
        return path


def _seed_from_hex(text: str) -> Ed25519PrivateKey:
    try:
        seed = bytes.fromhex(text.strip())
    except ValueError:
        raise SigningError("signing key is not hex") from None
    if len(seed) != 32:
        raise SigningError("signing key must be a 32-byte Ed25519 seed (64 hex digits)")
    return Ed25519PrivateKey.from_private_bytes(seed)


def load_signer(service: str, keys_dir: Path | None = None) -> Signer:
    """The service's key: `UF_SIGNING_KEY` (hex seed) if set, else `<keys_dir>/<service>.ed25519`,
    generated on first use (mode 0600) together with its `<key_id>.pub`."""
    if not _SERVICE.match(service):
        raise SigningError("service name must be [A-Za-z0-9_-]{1,40}")
    directory = keys_dir or Path(os.environ.get("UF_SIGNING_KEYS_DIR") or DEFAULT_KEYS_DIR)
    env = os.environ.get("UF_SIGNING_KEY")
    if env:
        signer = Signer(service, _seed_from_hex(env))
        try:
            signer.write_public(directory)
        except OSError:
            pass  # read-only mounts: the operator distributes the .pub
        return signer
    path = directory / f"{service}.ed25519"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        seed = os.urandom(32)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(seed.hex() + "\n")
        try:
            os.link(tmp, path)  # atomic and fails if another process won the race
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    signer = Signer(service, _seed_from_hex(path.read_text()))
    try:
        signer.write_public(directory)
    except OSError:
        pass  # a key file on a read-only mount (Kubernetes Secret): the operator distributes the .pub
    return signer


class TrustStore:
    """Public keys by key id, read from a directory of `<key_id>.pub` files. Asked for an id it
    does not know, it re-reads the directory at once if the directory changed since the last read
    (a key was registered: a publisher's first record must not be refused because it arrived
    within seconds of the verifier's start), else at most once per `reload_s`; so a key added
    while a verifier runs is picked up without a restart, and unknown ids cost one stat."""

    def __init__(self, directory: Path | None = None, reload_s: float = 5.0) -> None:
        self.directory = directory or trusted_keys_dir()
        self.reload_s = reload_s
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._raw: dict[str, tuple[Ed25519PublicKey, bytes]] = {}
        self._loaded_at = -1e9
        self._stamp: int | None = None
        self._lock = threading.Lock()
        self.reload()

    def _directory_stamp(self) -> int | None:
        try:
            return self.directory.stat().st_mtime_ns
        except OSError:
            return None

    def reload(self) -> None:
        stamp = self._directory_stamp()
        keys: dict[str, Ed25519PublicKey] = {}
        if self.directory.is_dir():
            for path in sorted(self.directory.glob("*.pub")):
                key_id = path.name[: -len(".pub")]
                pub = _read_public(path)
                # the id pins the key: a .pub whose content does not match its name is ignored
                if pub is not None and _KEY_ID.match(key_id) and key_id.endswith(key_id_for("", pub)):
                    keys[key_id] = pub
        with self._lock:
            self._keys, self._loaded_at, self._stamp = keys, time.monotonic(), stamp

    def add(self, key_id: str, pub: Ed25519PublicKey) -> None:
        """Trust a key in memory only (tests, tools)."""
        with self._lock:
            self._keys[key_id] = pub

    def get(self, key_id: str) -> Ed25519PublicKey | None:
        pub = self._keys.get(key_id)
        if pub is None and (self._directory_stamp() != self._stamp
                            or time.monotonic() - self._loaded_at >= self.reload_s):
            self.reload()
            pub = self._keys.get(key_id)
        return pub

    def raw(self, key_id: str, pub: Ed25519PublicKey) -> bytes:
        """The raw bytes of `pub` (trusted as `key_id`), exported once per key."""
        cached = self._raw.get(key_id)
        if cached is None or cached[0] is not pub:
            cached = (pub, raw_public(pub))
            self._raw[key_id] = cached
        return cached[1]

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._keys)


def _read_public(path: Path) -> Ed25519PublicKey | None:
    try:
        raw = bytes.fromhex(path.read_text().strip())
        return Ed25519PublicKey.from_public_bytes(raw) if len(raw) == 32 else None
    except (OSError, ValueError):
        return None


def signature_headers(headers: Iterable[tuple[str, bytes | None]] | None) -> tuple[list[bytes], list[bytes]]:
    """All values of `uf.sig.key` and `uf.sig` among a record's headers."""
    key_ids, sigs = [], []
    for name, value in headers or ():
        if name == KEY_HEADER:
            key_ids.append(value or b"")
        elif name == SIG_HEADER:
            sigs.append(value or b"")
    return key_ids, sigs


class VerifiedCache:
    """Signatures already verified in this process, so a record checked by two readers of one
    process (the audit service's projection loop and its checkpointer read every audited record)
    costs one Ed25519 verification, not two (~110 us each on the shared 2-core machine, the
    largest per-record cost).

    An entry is SHA-256(public key || signature || signed bytes): a hit means this exact key,
    signature and message were verified before, and Ed25519 verification is deterministic, so
    the answer is the same - as strong as verifying again, given SHA-256's collision resistance.
    Only successes are kept (a forgery is re-checked, and refused, every time); the size is
    bounded (oldest dropped first)."""

    def __init__(self, size: int = 16384) -> None:
        self.size = size
        # OrderedDict, not dict: dropping the oldest of a plain dict with `next(iter(d))` walks
        # the dead slots its earlier deletions left at the front - O(n) per record once full
        # (4 % of `audit verify`'s samples); popitem(last=False) is O(1).
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @staticmethod
    def _entry(raw_pub: bytes, sig: bytes, message: bytes) -> bytes:
        return hashlib.sha256(raw_pub + sig + message).digest()

    def verified(self, raw_pub: bytes, sig: bytes, message: bytes) -> tuple[bool, bytes]:
        entry = self._entry(raw_pub, sig, message)
        found = entry in self._seen
        if found:
            self.hits += 1
        else:
            self.misses += 1
        return found, entry

    def remember(self, entry: bytes) -> None:
        with self._lock:
            self._seen[entry] = None
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)


VERIFIED = VerifiedCache()


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """One record's signature, resolved and ready for the Ed25519 arithmetic: the trusted key
    its header names, the signature and the exact signed bytes. Resolving (headers, key id,
    trust store) stays in the caller's thread; the arithmetic - the expensive part - can then
    run anywhere (`verify_many`)."""

    key_id: str
    raw_pub: bytes
    sig: bytes
    message: bytes


def resolve_signature(topic: str, key: bytes | None, value: bytes | None,
                      headers: Sequence[tuple[str, bytes | None]] | None,
                      trust: TrustStore) -> tuple[SignatureCheck | None, str, str]:
    """(check, reason, key_id): a check to run, or None and the reason the record is refused
    before any arithmetic (unsigned, malformed, unknown key). key_id is "" when there is no
    usable one."""
    key_ids, sigs = signature_headers(headers)
    if not key_ids and not sigs:
        return None, UNSIGNED, ""
    if len(key_ids) != 1 or len(sigs) != 1 or len(sigs[0]) != 64:
        return None, MALFORMED, ""
    try:
        key_id = key_ids[0].decode("ascii")
    except UnicodeDecodeError:
        return None, MALFORMED, ""
    if not _KEY_ID.match(key_id):
        return None, MALFORMED, ""
    pub = trust.get(key_id)
    if pub is None:
        return None, UNKNOWN_KEY, key_id
    return SignatureCheck(key_id, trust.raw(key_id, pub), sigs[0], canonical_bytes(topic, key, value)), OK, key_id


def verify_signature(topic: str, key: bytes | None, value: bytes | None,
                     headers: Sequence[tuple[str, bytes | None]] | None, trust: TrustStore) -> tuple[bool, str, str]:
    """(ok, reason, key_id). key_id is "" when there is no usable one."""
    check, reason, key_id = resolve_signature(topic, key, value, headers, trust)
    if check is None:
        return False, reason, key_id
    seen, entry = VERIFIED.verified(check.raw_pub, check.sig, check.message)
    if seen:
        return True, OK, key_id
    if not ed25519_verify(check.raw_pub, check.sig, check.message):
        return False, BAD_SIGNATURE, key_id
    VERIFIED.remember(entry)
    return True, OK, key_id


def verify_many(checks: Sequence[SignatureCheck], pool: Executor | None = None, chunk: int = 64) -> list[bool]:
    """`ed25519_verify` of every check, in order. With a thread pool the checks are split into
    chunks that run side by side: libsodium runs with the GIL released (PyNaCl calls it through
    cffi, which releases it), so a verifier reading a long log uses every core for the
    arithmetic that bounds its rate. No cache: a reader of history sees each signature once."""
    if pool is None or len(checks) <= chunk:
        return [ed25519_verify(c.raw_pub, c.sig, c.message) for c in checks]
    parts = [checks[i:i + chunk] for i in range(0, len(checks), chunk)]
    out: list[bool] = []
    for part in pool.map(lambda cs: [ed25519_verify(c.raw_pub, c.sig, c.message) for c in cs], parts):
        out += part
    return out


def ed25519_verify(raw_pub: bytes, sig: bytes, message: bytes) -> bool:
    """One Ed25519 verification in libsodium (see the module docstring for why not OpenSSL)."""
    if len(raw_pub) != 32 or len(sig) != 64:
        return False
    try:
        sodium.crypto_sign_open(sig + message, raw_pub)
    except (BadSignatureError, ValueError):
        return False
    return True


def signer_service(key_id: str) -> str:
    """The service part of a key id (`orchestrator-0123...` -> `orchestrator`)."""
    return key_id.rsplit("-", 1)[0] if "-" in key_id else ""


# --- process-wide defaults: what the kit's producer paths call -------------------------------

_default_signer: Signer | None = None
_default_trust: TrustStore | None = None
_guard = threading.Lock()


def configure_signing(service: str, keys_dir: Path | None = None) -> Signer:
    """Load (or create) this process's signing key; call once at service start."""
    global _default_signer
    signer = load_signer(service, keys_dir)
    with _guard:
        _default_signer = signer
    return signer


def default_signer() -> Signer:
    global _default_signer
    if _default_signer is None:
        service = os.environ.get("UF_SIGNING_SERVICE") or os.environ.get("UF_SERVICE_NAME")
        if not service:
            raise SigningError("record signing not configured: call configure_signing(service) at start")
        configure_signing(service)
    assert _default_signer is not None
    return _default_signer


def signing_headers(topic: str, key: bytes | None, value: bytes | None) -> list[tuple[str, bytes]]:
    """Headers to add to a record this process produces: [("uf.sig.key", id), ("uf.sig", sig)]."""
    return default_signer().headers(topic, key, value)


def default_trust() -> TrustStore:
    global _default_trust
    with _guard:
        if _default_trust is None:
            _default_trust = TrustStore()
        return _default_trust


def verify_record(topic: str, key: bytes | None, value: bytes | None,
                  headers: Sequence[tuple[str, bytes | None]] | None, trust: TrustStore | None = None) -> tuple[bool, str]:
    """(True, "ok") when the record carries a valid signature by a trusted key, else (False,
    reason) with reason in {"unsigned", "malformed-signature", "unknown-key", "bad-signature"}.
    Whether an unsigned record is acceptable is the caller's per-topic policy."""
    ok, reason, _ = verify_signature(topic, key, value, headers, trust or default_trust())
    return ok, reason

"""A small S3 client for DR backups (`ufctl dr backup --out s3://BUCKET/PREFIX`, `ufctl dr restore
s3://BUCKET/PREFIX`): PUT, GET and ListObjectsV2 with AWS Signature Version 4, path-style
addressing, standard library only.

Why not boto3: three calls are all a backup needs, and ~15 MB of SDK in the audit image (the
CronJob's) for them is more to patch than this module; any S3-compatible store that speaks SigV4
works (AWS S3, Ceph RGW, Garage, SeaweedFS, s3proxy - the local stack's test server).

Endpoint and credentials come from settings (`UF_BACKUP_S3_*`, below), never from the command
line (a process list and shell history would show them) nor from a ConfigMap: on Kubernetes the
key pair is the Secret `uf-backup-s3` (k8s/components/dr-backup-s3). Error messages name the
bucket, key and S3 error code, never a credential."""
from __future__ import annotations

import hashlib
import hmac
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ufctl.errors import CliError

SCHEME = "s3://"
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_UNRESERVED = "-_.~"
ATTEMPTS = 4  # transient failures (connection refused/reset, 5xx, 429) are retried with backoff


class S3Settings(BaseSettings):
    """Where the S3-compatible store is and who we are to it."""

    model_config = SettingsConfigDict(env_prefix="UF_BACKUP_S3_", extra="ignore")

    endpoint: str = "https://s3.amazonaws.com"
    region: str = "us-east-1"
    access_key_id: SecretStr = SecretStr("")
    secret_access_key: SecretStr = SecretStr("")
    ca_file: str = ""  # a private CA for the endpoint's TLS certificate ("" = the system's)
    timeout_s: float = 60.0


@dataclass(frozen=True)
class Location:
    bucket: str
    prefix: str  # no leading or trailing slash; "" = the bucket's root

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.prefix}" if self.prefix else f"{SCHEME}{self.bucket}"


def is_s3(target: str) -> bool:
    return target.startswith(SCHEME)


def parse(target: str) -> Location:
    rest = target[len(SCHEME):] if is_s3(target) else ""
    bucket, _, prefix = rest.partition("/")
    if not bucket or any(c in bucket for c in "?#\\ "):
        raise CliError(f"{target!r}: expected s3://BUCKET/PREFIX")
    return Location(bucket, prefix.strip("/"))


def _quote(text: str, safe: str) -> str:
    return urllib.parse.quote(text, safe=_UNRESERVED + safe)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sign_v4(method: str, url: str, headers: dict[str, str], payload_sha256: str, *, region: str, access_key: str,
            secret_key: str, now: float | None = None) -> dict[str, str]:
    """The request's headers plus `x-amz-date`, `x-amz-content-sha256` and `Authorization`
    (AWS Signature Version 4, service `s3`)."""
    t = time.gmtime(now if now is not None else time.time())
    amz_date, day = time.strftime("%Y%m%dT%H%M%SZ", t), time.strftime("%Y%m%d", t)
    parts = urllib.parse.urlsplit(url)
    out = {**headers, "host": parts.netloc, "x-amz-date": amz_date, "x-amz-content-sha256": payload_sha256}
    canonical_headers = {k.lower(): " ".join(v.strip().split()) for k, v in out.items()}
    signed = ";".join(sorted(canonical_headers))
    query = sorted(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    canonical = "\n".join([
        method, parts.path or "/",  # the path is sent already encoded (see _url)
        "&".join(f"{_quote(k, '')}={_quote(v, '')}" for k, v in query),
        "".join(f"{k}:{canonical_headers[k]}\n" for k in sorted(canonical_headers)),
        signed, payload_sha256])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret_key).encode(), day), region), "s3"), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out["Authorization"] = f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
    return out


class S3Client:
    def __init__(self, settings: S3Settings | None = None) -> None:
        self.s = settings or S3Settings()
        if not self.s.access_key_id.get_secret_value() or not self.s.secret_access_key.get_secret_value():
            raise CliError("S3 credentials missing: set UF_BACKUP_S3_ACCESS_KEY_ID and UF_BACKUP_S3_SECRET_ACCESS_KEY "
                           "(Kubernetes: the Secret uf-backup-s3)")
        if urllib.parse.urlsplit(self.s.endpoint).scheme not in ("http", "https"):
            raise CliError(f"UF_BACKUP_S3_ENDPOINT must be an http:// or https:// URL, not {self.s.endpoint!r}")
        self._ctx = ssl.create_default_context(cafile=self.s.ca_file or None) if self.s.endpoint.startswith("https") else None

    def _url(self, bucket: str, key: str = "", query: dict[str, str] | None = None) -> str:
        path = "/" + _quote(bucket, "") + ("/" + _quote(key, "/") if key else "")
        q = "&".join(f"{_quote(k, '')}={_quote(v, '')}" for k, v in sorted((query or {}).items()))
        return self.s.endpoint.rstrip("/") + path + (f"?{q}" if q else "")

    def _request(self, method: str, bucket: str, key: str = "", *, body: bytes = b"",
                 query: dict[str, str] | None = None) -> tuple[int, bytes]:
        """(status, body); 404 is returned, other errors raise CliError (after retries)."""
        url = self._url(bucket, key, query)
        where = f"{method} s3://{bucket}/{key}"
        for attempt in range(ATTEMPTS):
            # an explicit type: urllib would send a body as a form (x-www-form-urlencoded), which a
            # servlet-based server (s3proxy) parses away before hashing it
            put_headers = {"content-length": str(len(body)), "content-type": "application/octet-stream"}
            headers = sign_v4(method, url, put_headers if method == "PUT" else {},
                              hashlib.sha256(body).hexdigest(), region=self.s.region,
                              access_key=self.s.access_key_id.get_secret_value(),
                              secret_key=self.s.secret_access_key.get_secret_value())
            req = urllib.request.Request(url, data=body if method == "PUT" else None, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=self.s.timeout_s, context=self._ctx) as resp:  # nosec B310 - http(s) only, checked in __init__
                    return resp.status, resp.read()
            except urllib.error.HTTPError as exc:
                data = exc.read()
                if exc.code == 404:
                    return 404, data
                if (exc.code >= 500 or exc.code == 429) and attempt < ATTEMPTS - 1:
                    time.sleep(0.5 * 2**attempt)
                    continue
                raise CliError(f"{where}: HTTP {exc.code} {_error_code(data)}") from None
            except (urllib.error.URLError, OSError) as exc:
                if attempt < ATTEMPTS - 1:
                    time.sleep(0.5 * 2**attempt)
                    continue
                reason = getattr(exc, "reason", exc)
                raise CliError(f"{where}: cannot reach {self.s.endpoint} ({reason.__class__.__name__}: {reason})") from None
        raise AssertionError("unreachable")

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self._request("PUT", bucket, key, body=data)

    def get(self, bucket: str, key: str) -> bytes | None:
        status, data = self._request("GET", bucket, key)
        return None if status == 404 else data

    def create_bucket(self, bucket: str) -> None:
        """For tests and first-time set-up; backups never create buckets."""
        self._request("PUT", bucket)

    def list(self, bucket: str, prefix: str) -> list[str]:
        """Every key under `prefix` (ListObjectsV2, all pages)."""
        keys: list[str] = []
        token = ""
        while True:
            query = {"list-type": "2", "prefix": prefix, **({"continuation-token": token} if token else {})}
            status, data = self._request("GET", bucket, query=query)
            if status == 404:
                raise CliError(f"s3://{bucket}: no such bucket")
            root = _xml(data)
            keys += [el.text or "" for el in root.iter(f"{_NS}Key")]
            if (root.findtext(f"{_NS}IsTruncated") or "false") != "true":
                return keys
            token = root.findtext(f"{_NS}NextContinuationToken") or ""
            if not token:
                raise CliError(f"s3://{bucket}: a truncated listing without a continuation token")


def _xml(data: bytes) -> ET.Element:
    """An S3 response document. Entity expansion (billion laughs, external entities) needs a
    DOCTYPE, which no S3 response has: refused before parsing, so stdlib's parser is safe here."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise CliError("the S3 endpoint answered with a DOCTYPE/ENTITY declaration (refused)")
    return ET.fromstring(data)  # nosec B314 - no DOCTYPE/ENTITY (checked above)


def _error_code(data: bytes) -> str:
    try:
        return _xml(data).findtext("Code") or ""
    except (ET.ParseError, CliError):
        return ""

"""The DR backups' S3 client: AWS Signature Version 4 against AWS's own published example (so
any SigV4 store accepts it, not only the local test server), and target parsing."""
from __future__ import annotations

import hashlib

import pytest

from ufctl import s3
from ufctl.errors import CliError


def test_sigv4_matches_the_aws_documented_example():
    # "Example: GET Object" of the S3 API reference (Signature Version 4, header-based auth)
    headers = s3.sign_v4("GET", "https://examplebucket.s3.amazonaws.com/test.txt", {"Range": "bytes=0-9"},
                         hashlib.sha256(b"").hexdigest(), region="us-east-1", access_key="AKIAIOSFODNN7EXAMPLE",
                         secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", now=1369353600)  # 2013-05-24T00:00:00Z
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    assert headers["x-amz-date"] == "20130524T000000Z"


def test_targets_parse_and_keys_nest_under_the_prefix():
    loc = s3.parse("s3://bucket/a/b/")
    assert (loc.bucket, loc.prefix, loc.key("manifest.json"), str(loc)) == ("bucket", "a/b", "a/b/manifest.json", "s3://bucket/a/b")
    assert s3.parse("s3://bucket").key("x") == "x"
    for bad in ("s3://", "s3:///x", "/tmp/dir"):
        with pytest.raises(CliError):
            s3.parse(bad)


def test_credentials_come_from_settings_only(monkeypatch):
    for k in ("UF_BACKUP_S3_ACCESS_KEY_ID", "UF_BACKUP_S3_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(k, raising=False)
    with pytest.raises(CliError, match="S3 credentials missing"):
        s3.S3Client()
    monkeypatch.setenv("UF_BACKUP_S3_ACCESS_KEY_ID", "id")
    monkeypatch.setenv("UF_BACKUP_S3_SECRET_ACCESS_KEY", "very-secret")
    monkeypatch.setenv("UF_BACKUP_S3_ENDPOINT", "file:///etc")
    with pytest.raises(CliError, match="http:// or https://"):
        s3.S3Client()
    monkeypatch.setenv("UF_BACKUP_S3_ENDPOINT", "http://127.0.0.1:1")
    assert "very-secret" not in repr(s3.S3Client().s)

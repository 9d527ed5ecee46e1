"""The search-engine declaration (services/kit/contracts/search_roles.py) and its client kit:
only the audit service writes the trail, the CLI only reads it, nobody else has a user, and a
client is never built for plain HTTP."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.kit.contracts import search_roles
from services.kit.security import search_auth

WRITE_WORDS = ("write", "delete", "index", "all", "manage", "create", "crud")


def test_only_the_audit_service_writes_the_trail() -> None:
    writers = {u for u, roles in search_roles.USERS.items()
               if any(any(w in a for w in WRITE_WORDS) for r in roles
                      for p in search_roles.ROLES[r]["index_permissions"] for a in p["allowed_actions"])}
    assert writers == {"audit"}
    assert set(search_roles.USERS) == {"audit", "ufctl"}  # no other service talks to the search engine


def test_every_role_covers_only_the_trail() -> None:
    for role in search_roles.ROLES.values():
        assert all(p["index_patterns"] == ["uf-audit-*"] for p in role["index_permissions"])


def test_the_plugin_configuration_maps_users_by_certificate(tmp_path: Path) -> None:
    search_roles.write_image_config(tmp_path)
    conf = json.loads((tmp_path / "opensearch-security" / "config.yml").read_text())
    authc = conf["config"]["dynamic"]["authc"]
    assert [d["http_authenticator"]["type"] for d in authc.values()] == ["clientcert"]
    assert conf["config"]["dynamic"]["http"]["anonymous_auth_enabled"] is False
    mapping = json.loads((tmp_path / "opensearch-security" / "roles_mapping.yml").read_text())
    assert mapping["uf_trail_writer"]["users"] == ["audit"] and mapping["uf_trail_reader"]["users"] == ["ufctl"]
    assert json.loads((tmp_path / "opensearch-security" / "internal_users.yml").read_text()) == {
        "_meta": {"type": "internalusers", "config_version": 2}}  # no passwords anywhere
    yml = (tmp_path / "opensearch.yml").read_text()
    assert 'plugins.security.authcz.admin_dn: ["CN=admin,O=universal-framework"]' in yml  # a list, not split at commas
    assert 'plugins.security.ssl.http.clientauth_mode: "REQUIRE"' in yml


def test_a_client_is_never_built_for_plain_http() -> None:
    with pytest.raises(search_auth.SearchAuthError):
        search_auth.client_args("http://127.0.0.1:19200", "ufctl")

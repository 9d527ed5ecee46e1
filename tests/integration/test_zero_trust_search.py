"""The search engine authenticates and authorises, as the attacks it stops: a client on the network
without a certificate, over plain HTTP, or with a certificate of the suite's CA that is not the
trail's writer (the CLI's read-only identity, another service) tries to forge, delete or read the
audit trail. OpenSearch refuses (TLS handshake, or 403 from the security plugin) and the trail is
unchanged; the workflows of the other tests run with the same identities in force
(services/kit/contracts/search_roles.py)."""
from __future__ import annotations

import ssl
import urllib.error
import urllib.request
import uuid

import pytest
from opensearchpy.exceptions import AuthorizationException

from services.kit.security import search_auth, tls
from tests.integration import helpers as h

pytestmark = pytest.mark.integration

URL = h.SETTINGS.es_url


@pytest.fixture
def trail_index(stack):
    """An index of the trail's pattern with one entry, made by its writer (the audit identity)."""
    index = f"uf-audit-events-attack-{uuid.uuid4().hex[:8]}"
    writer = search_auth.client(URL, "audit")
    writer.index(index=index, id="e1", body={"workflow_id": "wf-1", "phase": "REJECTED"}, refresh=True)
    yield index
    writer.indices.delete(index=index)


def entry(index: str) -> dict:
    return search_auth.client(URL, "admin").get(index=index, id="e1")["_source"]


def test_a_client_without_a_certificate_is_refused(stack) -> None:
    no_cert = ssl.create_default_context(cafile=str(tls.ca_file()))  # trusts the server, presents nothing
    with pytest.raises((ssl.SSLError, ConnectionError, urllib.error.URLError)):
        urllib.request.urlopen(f"{URL}/_cat/indices", timeout=10, context=no_cert).read()


def test_plain_http_is_not_served(stack) -> None:
    with pytest.raises((ConnectionError, urllib.error.URLError, OSError)):
        urllib.request.urlopen(URL.replace("https://", "http://") + "/_cat/indices", timeout=10).read()
    with pytest.raises(search_auth.SearchAuthError):  # and the kit never sends a request in clear
        search_auth.client(URL.replace("https://", "http://"))


@pytest.mark.parametrize("who", ["ufctl", "validator", "orchestrator"])
def test_a_reader_or_another_service_cannot_rewrite_or_delete_the_trail(trail_index: str, who: str) -> None:
    attacker = search_auth.client(URL, who)
    with pytest.raises(AuthorizationException):
        attacker.index(index=trail_index, id="e1", body={"workflow_id": "wf-1", "phase": "COMPLETED"}, refresh=True)
    with pytest.raises(AuthorizationException):
        attacker.delete(index=trail_index, id="e1")
    with pytest.raises(AuthorizationException):
        attacker.delete_by_query(index=trail_index, body={"query": {"match_all": {}}})
    with pytest.raises(AuthorizationException):
        attacker.indices.delete(index=trail_index)
    assert entry(trail_index) == {"workflow_id": "wf-1", "phase": "REJECTED"}


def test_only_the_cli_reads_the_trail_besides_its_writer(trail_index: str) -> None:
    hits = search_auth.client(URL, "ufctl").search(index=trail_index, body={"query": {"match_all": {}}})
    assert [x["_id"] for x in hits["hits"]["hits"]] == ["e1"]
    with pytest.raises(AuthorizationException):  # a service with no business in the trail reads nothing
        search_auth.client(URL, "delivery").search(index=trail_index, body={"query": {"match_all": {}}})


def test_the_writer_writes_only_the_trail(stack) -> None:
    with pytest.raises(AuthorizationException):
        search_auth.client(URL, "audit").index(index=f"not-the-trail-{uuid.uuid4().hex[:6]}", body={"x": 1})
    with pytest.raises(AuthorizationException):  # nor the security plugin's own configuration
        search_auth.client(URL, "audit").search(index=".opendistro_security", body={"query": {"match_all": {}}})

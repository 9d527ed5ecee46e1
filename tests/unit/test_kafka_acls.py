"""The broker ACLs derived from infra/topics.yaml: who may write the topics whose forgery matters,
and a declaration that names an unknown topic or grant is refused."""
from __future__ import annotations

import pytest

from services.kit.contracts import topics
from services.kit.contracts.acls import (
    GROUP,
    LITERAL,
    PREFIXED,
    READ,
    TOPIC,
    TRANSACTIONAL_ID,
    WRITE,
    Binding,
    desired_bindings,
    load_principals,
    parse_principals,
)
from services.kit.contracts.topics import DeclarationError, load_topics


@pytest.fixture(scope="module")
def bindings() -> set[Binding]:
    return desired_bindings(load_topics(), load_principals())


def writers(bindings: set[Binding], topic: str) -> set[str]:
    return {b.principal.removeprefix("User:") for b in bindings
            if b.resource_type == TOPIC and b.resource_name == topic and b.operation == WRITE}


def test_only_the_owner_writes_the_topics_that_must_not_be_forged(bindings: set[Binding]) -> None:
    assert writers(bindings, topics.DELIVERY_OUTCOMES) == {"delivery"}
    assert writers(bindings, topics.AUDIT_CHECKPOINTS) == {"audit"}
    assert writers(bindings, topics.ORCHESTRATOR_STATE) == {"orchestrator"}
    assert writers(bindings, topics.VALIDATION_DECISIONS) == {"validator"}


def test_every_consuming_service_may_dead_letter_and_nobody_else_writes_there(bindings: set[Binding]) -> None:
    assert writers(bindings, topics.DEAD_LETTER) == {"orchestrator", "validator", "pii", "delivery", "audit"}


def test_reads_groups_and_transactions_are_granted_as_declared(bindings: set[Binding]) -> None:
    assert Binding("User:delivery", TOPIC, topics.DELIVERY_REQUESTS, LITERAL, READ) in bindings
    assert Binding("User:delivery", TOPIC, topics.ORCHESTRATOR_STATE, LITERAL, READ) not in bindings
    assert Binding("User:orchestrator", TRANSACTIONAL_ID, "uf-orchestrator", PREFIXED, WRITE) in bindings
    assert Binding("User:pii", GROUP, "uf-pii", PREFIXED, READ) in bindings
    assert Binding("User:audit", TOPIC, "uf.scratch.audit.", PREFIXED, READ) in bindings
    assert {b.principal for b in bindings if b.resource_type == TRANSACTIONAL_ID} == {"User:orchestrator"}


def test_a_declaration_naming_an_unknown_topic_or_grant_is_refused() -> None:
    specs = load_topics()
    with pytest.raises(DeclarationError, match="undeclared topic"):
        parse_principals({"pii": {"reads": ["uf.no.such.topic"]}}, specs)
    with pytest.raises(DeclarationError, match="only reads"):
        parse_principals({"pii": {"superuser": True}}, specs)

"""Kafka ACLs derived from `infra/topics.yaml`, applied declaratively by the topics tool.

The declaration says who may do what on the bus; this module turns it into broker ACLs so the
broker itself refuses what the declaration does not allow (TopicAuthorizationFailed), before any
consumer's admission check has to:
  - Write on a topic: every signer listed under that topic's `producers:` (the same list the
    consumers' admission checks use), plus a principal's extra `writes:` (dead letters);
  - Read on a topic: a principal's `reads:` ("*" = every declared topic);
  - Read on a consumer group / Write on a transactional id: a principal's `groups:` /
    `transactional_ids:` (prefixes);
  - IdempotentWrite on the cluster: every principal that may write somewhere (its producers are
    idempotent).
A principal is the common name of the client's certificate (services/kit/security/kafka_auth.py).
Applying is declarative and idempotent: missing bindings are created, bindings the declaration
no longer gives are deleted (so the broker holds exactly the declaration). The broker's own
principal and the topics tool's admin are super users in the broker config and need no ACLs.

aiokafka's admin client has no ACL calls, so the three requests are sent with its protocol
classes (CreateAcls v1, DescribeAcls v1, DeleteAcls v1: what Kafka 4 still accepts).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import (
    CreateAclsRequest_v1,
    DeleteAclsRequest_v1,
    DescribeAclsRequest,
)
from aiokafka.protocol.api import Request

from services.kit.contracts.topics import DeclarationError, TopicSpec, load_topics
from services.kit.runtime.paths import TOPICS_FILE

# Kafka's enum codes (org.apache.kafka.common.resource / acl)
TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID = 2, 3, 4, 5
ANY, LITERAL, PREFIXED = 1, 3, 4
READ, WRITE, IDEMPOTENT_WRITE = 3, 4, 12
CLUSTER_NAME = "kafka-cluster"
ALLOW = 3
ALL_HOSTS = "*"
_RESOURCES = {TOPIC: "topic", GROUP: "group", CLUSTER: "cluster", TRANSACTIONAL_ID: "transactional-id"}
_OPERATIONS = {READ: "Read", WRITE: "Write", IDEMPOTENT_WRITE: "IdempotentWrite"}


@dataclass(frozen=True, order=True)
class Binding:
    """One ALLOW rule for any host: `principal` may `operation` on the resource."""
    principal: str            # "User:<cn>"
    resource_type: int
    resource_name: str
    pattern_type: int
    operation: int

    def __str__(self) -> str:
        return (f"{self.principal} {_OPERATIONS.get(self.operation, self.operation)} "
                f"{_RESOURCES.get(self.resource_type, self.resource_type)}:{self.resource_name}"
                f"{'*' if self.pattern_type == PREFIXED else ''}")


@dataclass(frozen=True)
class Principal:
    """What infra/topics.yaml `principals:` grants one client identity beyond its `producers:`."""
    name: str
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    transactional_ids: tuple[str, ...] = ()


def parse_principals(raw: object, topics: dict[str, TopicSpec]) -> dict[str, Principal]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise DeclarationError("principals: must map a principal to its grants")
    out = {}
    for name, grants in raw.items():
        grants = grants or {}
        if not isinstance(grants, dict) or set(grants) - {"reads", "writes", "groups", "transactional_ids"}:
            raise DeclarationError(f"principals.{name}: only reads, writes, groups, transactional_ids")
        lists = {k: tuple(str(v) for v in grants.get(k) or ()) for k in ("reads", "writes", "groups", "transactional_ids")}
        for k in ("reads", "writes"):
            unknown = [t for t in lists[k] if t != "*" and not t.endswith(".*") and t not in topics]
            if unknown:
                raise DeclarationError(f"principals.{name}.{k}: undeclared topic(s) {', '.join(unknown)}")
        out[str(name)] = Principal(str(name), **lists)
    return out


def load_principals(path: Path = TOPICS_FILE) -> dict[str, Principal]:
    """infra/topics.yaml `principals:`, checked against the declared topics."""
    raw = yaml.safe_load(path.read_text()) or {}
    return parse_principals(raw.get("principals"), load_topics(path))


def desired_bindings(topics: dict[str, TopicSpec], principals: dict[str, Principal]) -> set[Binding]:
    """Every ACL the declaration gives (a set: the same grant twice is one binding)."""
    out: set[Binding] = set()
    for spec in topics.values():
        for signer in spec.producers:
            out.add(Binding(f"User:{signer}", TOPIC, spec.name, LITERAL, WRITE))
    for p in principals.values():
        user = f"User:{p.name}"
        for op, names in ((READ, p.reads), (WRITE, p.writes)):
            for t in names:
                if t == "*":
                    out |= {Binding(user, TOPIC, name, LITERAL, op) for name in topics}
                elif t.endswith(".*"):
                    out.add(Binding(user, TOPIC, t[:-1], PREFIXED, op))
                else:
                    out.add(Binding(user, TOPIC, t, LITERAL, op))
        out |= {Binding(user, GROUP, g, PREFIXED, READ) for g in p.groups}
        out |= {Binding(user, TRANSACTIONAL_ID, t, PREFIXED, WRITE) for t in p.transactional_ids}
    # every writer's producer is idempotent (acks=all, no duplicates on retry): the broker asks
    # for IdempotentWrite on the cluster at InitProducerId (a fresh cluster refuses it otherwise)
    writers = {b.principal for b in out if b.operation == WRITE}
    out |= {Binding(w, CLUSTER, CLUSTER_NAME, LITERAL, IDEMPOTENT_WRITE) for w in writers}
    return out


class _CreateAcls(Request[CreateAclsRequest_v1]):
    API_KEY = 30

    def __init__(self, bindings: list[Binding]) -> None:
        self.bindings = bindings

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class([(b.resource_type, b.resource_name, b.pattern_type, b.principal, ALL_HOSTS,
                                      b.operation, ALLOW) for b in self.bindings])


class _DeleteAcls(Request[DeleteAclsRequest_v1]):
    API_KEY = 31

    def __init__(self, bindings: list[Binding]) -> None:
        self.bindings = bindings

    def build(self, request_struct_class: type[DeleteAclsRequest_v1]) -> DeleteAclsRequest_v1:
        return request_struct_class([(b.resource_type, b.resource_name, b.pattern_type, b.principal, ALL_HOSTS,
                                      b.operation, ALLOW) for b in self.bindings])


def _check(what: str, errors: list[tuple[int, str | None]]) -> None:
    bad = [(code, msg) for code, msg in errors if code]
    if bad:
        raise RuntimeError(f"{what} refused by the broker: error {bad[0][0]} {bad[0][1] or ''}".strip())


async def current_bindings(admin: AIOKafkaAdminClient) -> tuple[set[Binding], set[tuple[Any, ...]]]:
    """ALLOW-any-host bindings the broker holds, and anything else it holds (DENY rules, single
    hosts) - the latter are reported, never silently kept or removed."""
    resp = await admin._send_request(DescribeAclsRequest(ANY, None, ANY, None, None, ANY, ANY))
    _check("DescribeAcls", [(resp.error_code, resp.error_message)])
    ours, other = set(), set()
    for rtype, rname, ptype, acls in resp.resources:
        for principal, host, op, perm in acls:
            if host == ALL_HOSTS and perm == ALLOW:
                ours.add(Binding(principal, rtype, rname, ptype, op))
            else:
                other.add((principal, host, rtype, rname, ptype, op, perm))
    return ours, other


async def apply_acls(admin: AIOKafkaAdminClient, topics: dict[str, TopicSpec],
                     principals: dict[str, Principal]) -> list[str]:
    """Bring the broker's ACLs in line with the declaration; returns what changed."""
    want = desired_bindings(topics, principals)
    have, other = await current_bindings(admin)
    add, drop = sorted(want - have), sorted(have - want)
    if add:
        resp = await admin._send_request(_CreateAcls(add))
        _check("CreateAcls", [(r[0], r[1]) for r in resp.creation_responses])
    if drop:
        resp = await admin._send_request(_DeleteAcls(drop))
        _check("DeleteAcls", [(r[0], r[1]) for r in resp.filter_responses])
    changes = [f"acl + {b}" for b in add] + [f"acl - {b}" for b in drop]
    changes += [f"acl ! not declared, left in place: {o}" for o in sorted(map(str, other))]
    return changes

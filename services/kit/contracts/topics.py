"""Topic declarations (`infra/topics.yaml`) and their idempotent application to the cluster.

Existing topics get their configs brought in line; a partition count that differs from the
declaration is an error, never silently changed (it would re-route workflow keys).
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import yaml
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from services.kit.runtime.paths import TOPICS_FILE
from services.kit.security import kafka_auth

REQUESTS = "uf.workflow.requests"
WORKFLOW_EVENTS = "uf.workflow.events"
AGENT_TASKS = "uf.agent.tasks"
AGENT_RESULTS = "uf.agent.results"
REVIEW_DECISIONS = "uf.review.decisions"
VALIDATION_DECISIONS = "uf.validation.decisions"
DELIVERY_REQUESTS = "uf.delivery.requests"
DELIVERY_OUTCOMES = "uf.delivery.outcomes"
SESSIONS = "uf.sessions"
CONSENT = "uf.consent"
POLICY = "uf.policy"
GDPR = "uf.gdpr"
PII_SCAN_REQUESTS = "uf.pii.scan.requests"
PII_SCAN_RESULTS = "uf.pii.scan.results"
ORCHESTRATOR_STATE = "uf.orchestrator.state"
DEAD_LETTER = "uf.deadletter"
AUDIT_CHECKPOINTS = "uf.audit.checkpoints"
AUDIT_WITNESS = "uf.audit.witness"
ROLLOUTS = "uf.rollouts"
# raw bytes / internal state / the audit trail's own output (and its witness's): not events to attest
NOT_AUDITED = frozenset({DEAD_LETTER, ORCHESTRATOR_STATE, AUDIT_CHECKPOINTS, AUDIT_WITNESS})


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)
    doc: str = ""
    # signer -> event types it may write here (infra/topics.yaml `producers:`); empty = nobody
    producers: dict[str, frozenset[str]] = field(default_factory=dict)

    @cached_property
    def event_types(self) -> frozenset[str]:
        """Every event type that belongs on this topic (the type<->topic binding). Cached: every
        consumer asks it for every record it admits, and a spec never changes."""
        return frozenset().union(*self.producers.values()) if self.producers else frozenset()


class DeclarationError(ValueError):
    """infra/topics.yaml is malformed (named topic and field)."""


def _producers(topic: str, raw: object) -> dict[str, frozenset[str]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, list) and v for v in raw.values()):
        raise DeclarationError(f"{topic}: producers must map a signer to a non-empty list of event types")
    return {str(signer): frozenset(str(t) for t in types) for signer, types in raw.items()}


@lru_cache(maxsize=8)
def load_topics(path: Path = TOPICS_FILE, brokers: int = 1) -> dict[str, TopicSpec]:
    """The declarations; with `brokers` >= a profile's `min_brokers` (e.g. the 3-broker cluster)
    that profile's replication factor and configs override the defaults and every topic."""
    raw = yaml.safe_load(path.read_text())
    defaults = raw.get("defaults", {})
    profile: dict = {}
    for candidate in (raw.get("profiles") or {}).values():
        if brokers >= int(candidate.get("min_brokers", 1)):
            profile = candidate
    specs = {}
    for name, spec in (raw.get("topics") or {}).items():
        spec = spec or {}
        config = {**defaults.get("config", {}), **spec.get("config", {}), **profile.get("config", {})}
        specs[name] = TopicSpec(
            name=name,
            partitions=int(spec.get("partitions", defaults.get("partitions", 1))),
            replication_factor=int(profile.get("replication_factor")
                                   or spec.get("replication_factor", defaults.get("replication_factor", 1))),
            config={k: str(v) for k, v in config.items()},
            doc=spec.get("doc", ""),
            producers=_producers(name, spec.get("producers")),
        )
    return specs


async def apply_topics(bootstrap: str, specs: dict[str, TopicSpec] | None = None) -> list[str]:
    """Create missing topics, align configs and the ACLs (services/kit/contracts/acls.py).
    Returns a human log of what changed. Connects as the admin principal (a super user)."""
    from services.kit.contracts.acls import apply_acls, load_principals  # acls builds on this module

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000,
                                **kafka_auth.client_args(kafka_auth.ADMIN))
    await admin.start()
    changes: list[str] = []
    try:
        if specs is None:
            brokers = len((await admin.describe_cluster()).get("brokers") or [1])
            specs = load_topics(TOPICS_FILE, brokers)
        existing = set(await admin.list_topics())
        missing = [s for s in specs.values() if s.name not in existing]
        if missing:
            await admin.create_topics([
                NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.config) for s in missing
            ])
            changes += [f"created {s.name} ({s.partitions} partitions)" for s in missing]
        present = [s for s in specs.values() if s.name in existing]
        if present:
            described = await admin.describe_topics([s.name for s in present])
            counts = {d["topic"]: len(d["partitions"]) for d in described}
            for s in present:
                if counts.get(s.name) != s.partitions:
                    raise RuntimeError(
                        f"topic {s.name} has {counts.get(s.name)} partitions, declared {s.partitions}; "
                        "changing it would re-route keys - migrate explicitly "
                        "(a disposable local stack: `make clean` then `make up`)"
                    )
            await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, s.name, configs=s.config) for s in present])
        changes += await apply_acls(admin, specs, load_principals())
    finally:
        await admin.close()
    return changes


def audited_topics() -> list[str]:
    """Every declared topic the audit trail attests (the service, the verifier and the benches agree)."""
    return sorted(t for t in load_topics() if t not in NOT_AUDITED)


def main(argv: list[str] | None = None) -> int:
    from services.kit.runtime.config import ServiceSettings

    parser = argparse.ArgumentParser(description="Apply infra/topics.yaml to the cluster")
    parser.add_argument("--bootstrap", default=ServiceSettings().kafka_bootstrap)
    args = parser.parse_args(argv)
    try:
        changes = asyncio.run(apply_topics(args.bootstrap))
    except Exception as exc:
        print(f"topics: cannot apply to {args.bootstrap}: {exc}", file=sys.stderr)
        return 1
    for c in changes:
        print(f"topics: {c}")
    print(f"topics: {len(load_topics())} topics declared, cluster in line")
    return 0


if __name__ == "__main__":
    sys.exit(main())

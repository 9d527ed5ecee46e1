"""Zero-trust admission of a consumed record: who wrote it, and were they allowed to?

Every consumer of the bus (the kit's ConsumeLoop, the Redis projections, the orchestrator's
transactional processor and its state restore) calls `Admission.admit` before acting on a
record. A record is admitted only when
  1. it carries exactly one Ed25519 signature by a key in the trusted-keys directory, over
     (topic, key, value) - so it cannot have been altered or copied from another topic;
  2. the signer (the service part of the key id) is declared as a producer of the topic in
     `infra/topics.yaml` (`producers:`);
  3. the record's event type is one of the types declared for this topic (type<->topic
     binding) and for this signer.
Anything else raises `Refused` whose `reason` is the dead-letter reason (`uf.dlq.reason`).
Reasons are stable codes and never echo record content (it may be PII).

Cost: one Ed25519 verification per record (public keys are parsed once and cached by the
TrustStore; an unknown key id re-reads the directory only when it changed (a key was
registered) or once per reload period, so a flood of made-up key ids costs one stat each). The declaration is parsed once per process.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.kit.contracts.topics import TopicSpec, load_topics
from services.kit.security.signing import TrustStore, default_trust, signer_service, verify_signature

# dead-letter reasons (besides the signature ones from signing: unsigned, malformed-signature,
# unknown-key, bad-signature)
UNDECLARED_TOPIC = "topic-has-no-declared-producers"
SIGNER_NOT_ALLOWED = "signer-not-allowed-on-topic"
TYPE_NOT_ON_TOPIC = "event-type-not-bound-to-topic"
SIGNER_NOT_ALLOWED_FOR_TYPE = "signer-not-allowed-for-event-type"


class Refused(Exception):
    """The record is not admitted. `reason` is the dead-letter reason code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class Admission:
    """The declaration (topic specs) and the trusted keys, checked together."""

    specs: dict[str, TopicSpec]
    trust: TrustStore

    @classmethod
    def default(cls) -> Admission:
        return cls(load_topics(), default_trust())

    def signer(self, topic: str, key: bytes | None, value: bytes | None,
               headers: Sequence[tuple[str, bytes | None]] | None) -> str:
        """The verified signer of a record allowed on `topic` (steps 1-2), else Refused."""
        spec = self.specs.get(topic)
        if spec is None or not spec.producers:
            raise Refused(UNDECLARED_TOPIC, topic)
        ok, reason, key_id = verify_signature(topic, key, value, headers, self.trust)
        if not ok:
            raise Refused(reason, f"key {key_id}" if key_id else "")
        who = signer_service(key_id)
        if who not in spec.producers:
            raise Refused(SIGNER_NOT_ALLOWED, f"{who} may not write {topic}")
        return who

    def authorize(self, topic: str, signer: str, event_type: str) -> None:
        """Step 3: the event type belongs on the topic and this signer may write it there."""
        spec = self.specs[topic]
        if event_type not in spec.event_types:
            raise Refused(TYPE_NOT_ON_TOPIC, f"{event_type} does not belong on {topic}")
        if event_type not in spec.producers.get(signer, ()):
            raise Refused(SIGNER_NOT_ALLOWED_FOR_TYPE, f"{signer} may not write {event_type} on {topic}")

    def admit(self, topic: str, key: bytes | None, value: bytes | None,
              headers: Sequence[tuple[str, bytes | None]] | None, event_type: str) -> str:
        who = self.signer(topic, key, value, headers)
        self.authorize(topic, who, event_type)
        return who


_default: Admission | None = None


def default_admission() -> Admission:
    """The process-wide admission (declared topics + trusted-keys directory)."""
    global _default
    if _default is None:
        _default = Admission.default()
    return _default

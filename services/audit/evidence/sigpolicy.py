"""Per-topic record-signature policy for verification, derived from the one declaration of
who may write what (`producers:` in infra/topics.yaml, read by kit.contracts.topics): every
declared topic is `signed` with exactly its declared signers - the same rule every consumer
enforces (kit.security.admission), so the verifier and the consumers never disagree.

* `signed`: every record must carry a valid signature by a trusted key of a listed signer.
  Unsigned = forged.
* `chain`: only for topics without declared producers or by explicit override: records are
  covered by the hash chain only, but a signature that *is* present must verify (a bad one
  means somebody altered a signed record).

`signed_since_ms` grandfathers records written before signing was switched on: older
records on a `signed` topic are judged as `chain`. Rules are matched in order (fnmatch globs).
A YAML file (`UF_AUDIT_POLICY_FILE` / `--policy`) replaces the declared rules:

    default: chain
    rules:
      - {topic: "uf.workflow.events", mode: signed, signers: [orchestrator], signed_since_ms: 0}
"""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from services.kit.contracts.topics import load_topics

SIGNED = "signed"
CHAIN = "chain"


@dataclass(frozen=True)
class Rule:
    topic: str
    mode: str
    signers: tuple[str, ...] = ()
    signed_since_ms: int = 0


def declared_rules() -> tuple[Rule, ...]:
    """One `signed` rule per topic with declared producers, listing exactly those signers."""
    return tuple(Rule(name, SIGNED, tuple(sorted(spec.producers)))
                 for name, spec in sorted(load_topics().items()) if spec.producers)


DEFAULT_RULES: tuple[Rule, ...] = declared_rules()


class PolicyError(Exception):
    """The policy file is unreadable or invalid."""


@dataclass(frozen=True)
class SignaturePolicy:
    rules: tuple[Rule, ...] = DEFAULT_RULES
    default: str = CHAIN

    def rule_for(self, topic: str) -> Rule:
        for r in self.rules:
            if fnmatch.fnmatchcase(topic, r.topic):
                return r
        return Rule(topic, self.default)

    def judge(self, topic: str, timestamp: int, sig_ok: bool, reason: str, key_id: str, rule: Rule | None = None) -> str:
        """"" if the record passes, else a reason code (what the verifier reports as forged)."""
        rule = rule or self.rule_for(topic)
        if sig_ok:
            if rule.signers and key_id.rsplit("-", 1)[0] not in rule.signers:
                return "signer-not-allowed"
            return ""
        if reason == "unsigned":
            return "unsigned" if rule.mode == SIGNED and timestamp >= rule.signed_since_ms else ""
        return reason  # a signature is present but wrong: forged whatever the mode


def _rule(raw: Any) -> Rule:
    if not isinstance(raw, dict) or "topic" not in raw:
        raise PolicyError("each rule needs a topic")
    mode = raw.get("mode", SIGNED)
    if mode not in (SIGNED, CHAIN):
        raise PolicyError(f"mode must be {SIGNED} or {CHAIN}")
    return Rule(str(raw["topic"]), mode, tuple(str(s) for s in raw.get("signers", ()) or ()),
                int(raw.get("signed_since_ms", 0) or 0))


def load_policy(path: str | Path | None = None) -> SignaturePolicy:
    path = path or os.environ.get("UF_AUDIT_POLICY_FILE") or ""
    if not path:
        return SignaturePolicy()
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"cannot read policy file ({exc.__class__.__name__})") from None
    default = raw.get("default", CHAIN)
    if default not in (SIGNED, CHAIN):
        raise PolicyError(f"default must be {SIGNED} or {CHAIN}")
    return SignaturePolicy(tuple(_rule(r) for r in raw.get("rules", []) or []), default)

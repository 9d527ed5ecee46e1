"""The Redis key layout: a contract between services, like topic names.

Every reader and writer builds its keys here, so a service that reads another's projection
(the validator reading the audit trail's progress, `ufctl status` reading a workflow) cannot
drift from the writer. All keys start with `uf:`; replays write under a namespaced prefix and
swap it in (`replay_prefix`)."""
from __future__ import annotations

LIVE_PREFIX = "uf:"

# --- workflow projection (writer: audit; readers: validator audit gates, ufctl) --------------
def wf_key(workflow_id: str, prefix: str = LIVE_PREFIX) -> str:
    """Hash: the workflow's current phase, session, reason, phase position."""
    return f"{prefix}wf:{workflow_id}"


def history_key(workflow_id: str, prefix: str = LIVE_PREFIX) -> str:
    """Hash: event id -> timeline entry JSON (one field per recorded transition)."""
    return f"{prefix}wf:{workflow_id}:history"


def replay_prefix(generation: int) -> str:
    """Prefix of a replay's fresh projection before it is swapped in."""
    return f"uf:replay:r{generation}:"


# --- identity and consent facts (writer: validator projection of uf.sessions/uf.consent) -------
def session_key(session_id: str) -> str:
    return f"uf:session:{session_id}"


def consent_key(subject_id: str) -> str:
    return f"uf:consent:{subject_id}"


def consent_erased_key(subject_id: str) -> str:
    """String: occurred_at (epoch ms) of the subject's latest erasure. Consent recorded before it
    is never projected again, whatever order a rebuild reads `uf.consent` and `uf.gdpr` in."""
    return f"uf:consent-erased:{subject_id}"


# --- policy in force (writer: validator projection of uf.policy; reader: ufctl) --------------
POLICY_ACTIVE = "uf:policy:active"
POLICY_HISTORY = "uf:policy:history"

# --- per-subject encryption keys (crypto-shredding, ADR 0003) ---------------------------------
SUBJECT_KEY_PREFIX = "uf:subject-key:"
SUBJECT_KEY_EXPIRY = "uf:subject-key-expiry"  # sorted set: subject -> retention deadline (epoch s)
# Pub/sub channel: every deletion of a subject key publishes the subject id here (in the same
# MULTI / script as the deletion), so processes that cache keys drop them at once.
SUBJECT_KEY_ERASED = "uf:subject-key:erased"


def subject_key(subject_id: str) -> str:
    return SUBJECT_KEY_PREFIX + subject_id


# --- the validator's own record of what it allowed (never sign a transition a workflow is not in) --
def validator_allowed_key(workflow_id: str) -> str:
    """Set of phases the validator allowed the workflow into (shared by validator instances)."""
    return f"uf:validator:allowed:{workflow_id}"


# --- exactly-once projections: input offsets stored with the projected state -----------------
def projection_offsets_key(name: str) -> str:
    return f"uf:projection:{name}:offsets"


# --- delivery claims (one email per workflow and recipient) -----------------------------------
def delivery_key(workflow_id: str, delivery_id: str) -> str:
    return f"uf:delivery:{workflow_id}:{delivery_id}"


# --- audit trail: checkpoint copies, projection generation, replays ---------------------------
CHECKPOINT_HEADS = "uf:audit:ckpt:heads"
CHECKPOINT_UNPUBLISHED = "uf:audit:ckpt:unpublished"


def checkpoint_key(topic: str, partition: int) -> str:
    return f"uf:audit:ckpt:{topic}:{partition}"


PROJECTION_GENERATION = "uf:audit:projection:generation"
# Pub/sub channel: after each projected batch the audit service publishes the ids of the
# workflows whose Redis state it changed (space-separated); the validator's audit gates wait on
# it instead of polling. A lost message only delays a gate until its deadline re-check.
AUDIT_PROGRESS_CHANNEL = "uf:audit:progress"
PROJECTION_PAUSE = "uf:audit:projection:pause"
# one field per live projector (its instance id): the pause it has answered (a hash; the old
# single-answer string key was `...:pause-ack`)
PROJECTION_PAUSE_ACKS = "uf:audit:projection:pause-acks"
# the live projectors (audit instances), each with a lease key that expires when it stops renewing
PROJECTION_MEMBERS = "uf:audit:projection:members"


def projection_member(instance: str) -> str:
    return f"uf:audit:projection:member:{instance}"


REPLAY_STATE = "uf:audit:replay:state"
REPLAY_LOCK = "uf:audit:replay:lock"
REPLAY_SEQ = "uf:audit:replay:seq"

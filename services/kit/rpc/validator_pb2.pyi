from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Actor(_message.Message):
    __slots__ = ("user_id", "auth_token")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    AUTH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    auth_token: str
    def __init__(self, user_id: _Optional[str] = ..., auth_token: _Optional[str] = ...) -> None: ...

class WorkflowSnapshot(_message.Message):
    __slots__ = ("workflow_id", "session_id", "current_phase", "purpose", "subject_ids", "requester_id", "auto_approve", "review_approved", "reviewer_id", "deliveries_expected", "deliveries_confirmed", "correlation_id", "facts")
    class FactsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENT_PHASE_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_IDS_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_ID_FIELD_NUMBER: _ClassVar[int]
    AUTO_APPROVE_FIELD_NUMBER: _ClassVar[int]
    REVIEW_APPROVED_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    DELIVERIES_EXPECTED_FIELD_NUMBER: _ClassVar[int]
    DELIVERIES_CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    FACTS_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    session_id: str
    current_phase: str
    purpose: str
    subject_ids: _containers.RepeatedScalarFieldContainer[str]
    requester_id: str
    auto_approve: bool
    review_approved: bool
    reviewer_id: str
    deliveries_expected: int
    deliveries_confirmed: int
    correlation_id: str
    facts: _containers.ScalarMap[str, str]
    def __init__(self, workflow_id: _Optional[str] = ..., session_id: _Optional[str] = ..., current_phase: _Optional[str] = ..., purpose: _Optional[str] = ..., subject_ids: _Optional[_Iterable[str]] = ..., requester_id: _Optional[str] = ..., auto_approve: _Optional[bool] = ..., review_approved: _Optional[bool] = ..., reviewer_id: _Optional[str] = ..., deliveries_expected: _Optional[int] = ..., deliveries_confirmed: _Optional[int] = ..., correlation_id: _Optional[str] = ..., facts: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ValidateTransitionRequest(_message.Message):
    __slots__ = ("snapshot", "target_phase", "actor", "causation_id")
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    TARGET_PHASE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    CAUSATION_ID_FIELD_NUMBER: _ClassVar[int]
    snapshot: WorkflowSnapshot
    target_phase: str
    actor: Actor
    causation_id: str
    def __init__(self, snapshot: _Optional[_Union[WorkflowSnapshot, _Mapping]] = ..., target_phase: _Optional[str] = ..., actor: _Optional[_Union[Actor, _Mapping]] = ..., causation_id: _Optional[str] = ...) -> None: ...

class RuleOutcome(_message.Message):
    __slots__ = ("rule", "allowed", "reason", "error")
    RULE_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    rule: str
    allowed: bool
    reason: str
    error: bool
    def __init__(self, rule: _Optional[str] = ..., allowed: _Optional[bool] = ..., reason: _Optional[str] = ..., error: _Optional[bool] = ...) -> None: ...

class ValidationDecision(_message.Message):
    __slots__ = ("allowed", "decision_id", "policy_version", "rules", "reason", "retryable", "retry_budget_s")
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RETRYABLE_FIELD_NUMBER: _ClassVar[int]
    RETRY_BUDGET_S_FIELD_NUMBER: _ClassVar[int]
    allowed: bool
    decision_id: str
    policy_version: str
    rules: _containers.RepeatedCompositeFieldContainer[RuleOutcome]
    reason: str
    retryable: bool
    retry_budget_s: float
    def __init__(self, allowed: _Optional[bool] = ..., decision_id: _Optional[str] = ..., policy_version: _Optional[str] = ..., rules: _Optional[_Iterable[_Union[RuleOutcome, _Mapping]]] = ..., reason: _Optional[str] = ..., retryable: _Optional[bool] = ..., retry_budget_s: _Optional[float] = ...) -> None: ...

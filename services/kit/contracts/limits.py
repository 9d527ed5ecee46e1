"""Declared size limits, checked at the door. A record over a limit is dead-lettered with the
reason instead of being carried into state or onto other topics: one request with half a
megabyte in a field once made the orchestrator's state record too big for its topic and
crashed it in a loop, stopping every later workflow.

The broker's default `max.message.bytes` is 1 MiB; every limit here stays well below it."""
from __future__ import annotations

from typing import Any

MAX_RECORD_BYTES = 512 * 1024  # any input record, encoded
MAX_REQUEST_BYTES = 256 * 1024  # a WorkflowRequested, encoded
MAX_FIELD_CHARS = 16 * 1024  # any one string field of a request (campaign text, variables, contact fields)
MAX_STATE_BYTES = 768 * 1024  # one orchestrator state record (JSON) on the changelog


def longest_string(value: Any, depth: int = 0) -> int:
    """Length of the longest string anywhere in a decoded record (bounded depth)."""
    if depth > 16:
        return 0
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return max((longest_string(v, depth + 1) for v in value.values()), default=0)
    if isinstance(value, list):
        return max((longest_string(v, depth + 1) for v in value), default=0)
    return 0

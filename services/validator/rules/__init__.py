"""Validation rules: small plug-ins registered by name; policies say which guard each phase.

Importing this package registers the built-in rules. A third-party rule registers itself with
`@rule("name")` from a module listed under the `universal_framework.rules` entry-point group
(loaded once, on the registry's first use).
"""
from services.validator.rules import audit, consent, content, delivery, identity, machine, privacy, review  # noqa: F401
from services.validator.rules.base import RULES, Context, Outcome, rule

__all__ = ["RULES", "Context", "Outcome", "rule"]

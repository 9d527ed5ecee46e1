"""Versioned enterprise policies: the declarative rule engine behind the validation matrix."""

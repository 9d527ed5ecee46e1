"""Reading policy files from a directory, and watching it for new versions (hot reload).

A version's content is fixed once loaded: a file whose content changes under the same version
is refused and the previously loaded content stays in force (versions are immutable; add a new
one). An invalid file is reported with its path and the reason, and never replaces anything.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from services.validator.policy.model import Policy

log = logging.getLogger(__name__)


class PolicyError(Exception):
    """A policy file that cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class LoadedPolicy:
    policy: Policy
    sha256: str
    path: Path


def load_policy_file(path: Path) -> LoadedPolicy:
    raw = path.read_bytes()
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path.name}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(doc, dict):
        raise PolicyError(f"{path.name}: expected a mapping at the top level")
    try:
        policy = Policy.model_validate(doc)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors())
        raise PolicyError(f"{path.name}: {problems}") from None
    if path.stem != policy.version:
        raise PolicyError(f"{path.name}: file name must be <version>.yaml (version is {policy.version!r})")
    return LoadedPolicy(policy, hashlib.sha256(raw).hexdigest(), path)


@dataclass
class PolicyLibrary:
    """Every valid version found in the directory, and the errors of the files that are not."""

    directory: Path
    versions: dict[str, LoadedPolicy] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    _mtimes: dict[Path, float] = field(default_factory=dict)

    def refresh(self) -> list[str]:
        """Re-read new or changed files. Returns human-readable changes (for the log)."""
        changes: list[str] = []
        seen = set()
        for path in sorted(self.directory.glob("*.yaml")):
            seen.add(path)
            mtime = path.stat().st_mtime
            if self._mtimes.get(path) == mtime:
                continue
            self._mtimes[path] = mtime
            try:
                loaded = load_policy_file(path)
            except (PolicyError, OSError) as exc:
                self.errors[path.name] = str(exc)
                changes.append(f"rejected {exc}")
                continue
            current = self.versions.get(loaded.policy.version)
            if current and current.sha256 != loaded.sha256:
                self.errors[path.name] = f"{path.name}: content of version {loaded.policy.version} changed; versions are immutable"
                changes.append(f"rejected {self.errors[path.name]}")
                continue
            self.errors.pop(path.name, None)
            if not current:
                self.versions[loaded.policy.version] = loaded
                changes.append(f"loaded {loaded.policy.version}")
        for gone in set(self._mtimes) - seen:
            self._mtimes.pop(gone)
            self.errors.pop(gone.name, None)  # loaded versions stay: a deleted file cannot revoke history
        return changes

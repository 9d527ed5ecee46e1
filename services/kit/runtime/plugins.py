"""One small plug-in registry for everything the suite lets a third party add: agents
(orchestrator), validation rules (validator). Register by name, refuse a duplicate name (two
plug-ins silently shadowing each other is how a policy ends up checking the wrong thing), and
load an entry-point group once, on first use, not on every look-up.

(The PII library keeps its own `RecognizerRegistry` with the same contract, because a library
cannot depend on the service kit; see ADR 0005.)"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

T = TypeVar("T")


class RegistryError(LookupError):
    pass


class Registry(Generic[T]):
    def __init__(self, kind: str, entry_point_group: str | None = None,
                 instantiate: Callable[[object], T] | None = None) -> None:
        self.kind, self.group = kind, entry_point_group
        self._instantiate = instantiate
        self._items: dict[str, T] = {}
        self._loaded = entry_point_group is None
        self._lock = threading.Lock()

    def register(self, name: str, item: T) -> T:
        if name in self._items:
            raise RegistryError(f"{self.kind} {name!r} registered twice")
        self._items[name] = item
        return item

    def decorator(self, name: str) -> Callable[[T], T]:
        """`@registry.decorator("name")` registers what it decorates."""
        return lambda item: self.register(name, item)

    def _load_entry_points(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            for ep in entry_points(group=self.group or ""):
                obj = ep.load()  # a module may register itself on import (`@registry.decorator`)
                if self._instantiate is not None:
                    self.register(ep.name, self._instantiate(obj))
            self._loaded = True

    def get(self, name: str) -> T:
        self._load_entry_points()
        try:
            return self._items[name]
        except KeyError:
            raise RegistryError(f"no {self.kind} named {name!r} (known: {sorted(self._items)})") from None

    def find(self, name: str) -> T | None:
        """Like `get`, but None for an unknown name (callers that deny on a miss)."""
        self._load_entry_points()
        return self._items.get(name)

    def __contains__(self, name: object) -> bool:
        self._load_entry_points()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        self._load_entry_points()
        return iter(sorted(self._items))

    def __len__(self) -> int:
        self._load_entry_points()
        return len(self._items)

    def names(self) -> list[str]:
        return list(self)

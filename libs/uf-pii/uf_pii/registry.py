"""Recognizer registry: the plug-in point of the engine.

Why a registry (like Presidio's ``RecognizerRegistry``): services choose
which detectors run (structured-only for logs, everything for payloads),
compliance adds YAML patterns, and other teams ship recognizers as Python
packages that declare an entry point in the group
``universal_framework.pii_recognizers``::

    [project.entry-points."universal_framework.pii_recognizers"]
    employee_badge = "acme_pii.badge:BadgeRecognizer"

An entry point may name a recognizer instance, a class (instantiated with no
arguments) or a factory returning one recognizer or a list of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from uf_pii.classification import DataClass
from uf_pii.custom_patterns import load_custom_patterns, parse_config
from uf_pii.recognizer import Recognizer

ENTRY_POINT_GROUP = "universal_framework.pii_recognizers"


class RegistryError(RuntimeError):
    """A recognizer could not be registered (bad object, duplicate name, broken plug-in)."""


class RecognizerRegistry:
    """An ordered set of recognizers keyed by ``name``, plus custom-pattern policy."""

    def __init__(self, recognizers: Iterable[Any] = ()) -> None:
        self._recognizers: dict[str, Recognizer] = {}
        self.levels: dict[str, DataClass] = {}
        """Classification levels contributed by custom patterns / plug-ins."""
        self.allow_list: frozenset[str] = frozenset()
        """Globally allowed values (normalised), never reported."""
        for recognizer in recognizers:
            self.register(recognizer)

    # -- registration -------------------------------------------------
    def register(self, recognizer: Any, *, replace: bool = False) -> None:
        """Add a recognizer; duplicate names are an error unless ``replace``."""
        name = getattr(recognizer, "name", None)
        type_name = getattr(recognizer, "type_name", None)
        if not isinstance(name, str) or not name:
            raise RegistryError(f"{recognizer!r} has no non-empty 'name'")
        if not isinstance(type_name, str) or not type_name:
            raise RegistryError(f"recognizer {name!r} has no non-empty 'type_name'")
        if not callable(getattr(recognizer, "detect", None)):
            raise RegistryError(f"recognizer {name!r} has no callable detect(text)")
        if not hasattr(recognizer, "requires_nlp"):
            try:
                recognizer.requires_nlp = False
            except AttributeError:
                raise RegistryError(f"recognizer {name!r} must define 'requires_nlp'") from None
        if name in self._recognizers and not replace:
            raise RegistryError(f"a recognizer named {name!r} is already registered")
        self._recognizers[name] = recognizer

    def add(self, recognizer: Any) -> None:
        """Alias of :meth:`register` (Presidio's ``add_recognizer`` spelling, shorter)."""
        self.register(recognizer)

    def unregister(self, name: str) -> None:
        """Remove a recognizer by name (``KeyError`` if absent)."""
        del self._recognizers[name]

    def get(self, name: str) -> Recognizer:
        """The recognizer registered as ``name``."""
        return self._recognizers[name]

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> list[str]:
        """Register every recognizer advertised under ``group``; return their names."""
        added: list[str] = []
        for ep in entry_points(group=group):
            try:
                obj = ep.load()
                produced = self._materialize(obj)
            except Exception as exc:
                raise RegistryError(f"PII recognizer entry point {ep.name!r} ({ep.value}) failed: {exc}") from exc
            for recognizer in produced:
                self.register(recognizer)
                added.append(recognizer.name)
        return added

    @staticmethod
    def _materialize(obj: Any) -> list[Any]:
        if isinstance(obj, type):
            return [obj()]
        if callable(getattr(obj, "detect", None)):
            return [obj]
        if callable(obj):
            made = obj()
            if callable(getattr(made, "detect", None)):
                return [made]
            return list(made)
        raise TypeError(f"{obj!r} is neither a recognizer, a class nor a factory")

    def load_custom_patterns(self, path: str | Path) -> list[str]:
        """Register the patterns of a YAML file (validated up front); return their names."""
        return self._apply_custom(load_custom_patterns(path))

    def load_custom_config(self, data: Any) -> list[str]:
        """Same as :meth:`load_custom_patterns` for an in-memory mapping."""
        return self._apply_custom(parse_config(data))

    def _apply_custom(self, config: Any) -> list[str]:
        for recognizer in config.recognizers():
            self.register(recognizer)
        for type_name, level in config.levels.items():
            self.levels[type_name] = max(self.levels.get(type_name, level), level)
        self.allow_list = self.allow_list | config.allow_list
        return [r.name for r in config.recognizers()]

    # -- queries --------------------------------------------------------
    def __iter__(self) -> Iterator[Recognizer]:
        return iter(list(self._recognizers.values()))

    def __len__(self) -> int:
        return len(self._recognizers)

    def __contains__(self, name: object) -> bool:
        return name in self._recognizers

    @property
    def names(self) -> list[str]:
        """Registered recognizer names in registration order."""
        return list(self._recognizers)

    def supported_types(self, *, nlp: bool = True) -> set[str]:
        """PII types the registry can emit (without NLP ones if ``nlp=False``)."""
        return {r.type_name for r in self if nlp or not r.requires_nlp}

    def structured(self) -> list[Recognizer]:
        """Recognizers that do not need spaCy."""
        return [r for r in self if not r.requires_nlp]

    def nlp_recognizers(self) -> list[Recognizer]:
        """Recognizers that need spaCy."""
        return [r for r in self if r.requires_nlp]


def structured_recognizers(regions: Sequence[str] | None = None) -> list[Recognizer]:
    """Fresh instances of the built-in structured recognizers."""
    from uf_pii.recognizers.ca_sin import CaSinRecognizer
    from uf_pii.recognizers.credit_card import CreditCardRecognizer
    from uf_pii.recognizers.email import EmailRecognizer
    from uf_pii.recognizers.iban import IbanRecognizer
    from uf_pii.recognizers.ip_address import IpAddressRecognizer
    from uf_pii.recognizers.phone import DEFAULT_REGIONS, PhoneRecognizer
    from uf_pii.recognizers.street_address import StreetAddressRecognizer
    from uf_pii.recognizers.us_ssn import UsSsnRecognizer

    return [
        EmailRecognizer(),
        PhoneRecognizer(regions or DEFAULT_REGIONS),
        UsSsnRecognizer(),
        CaSinRecognizer(),
        CreditCardRecognizer(),
        IbanRecognizer(),
        IpAddressRecognizer(),
        StreetAddressRecognizer(),
    ]


def nlp_recognizers(model: str | None = None, backend: Any | None = None) -> list[Recognizer]:
    """PERSON and LOCATION recognizers sharing one spaCy backend (loaded lazily)."""
    from uf_pii.nlp import DEFAULT_MODEL, shared_backend
    from uf_pii.recognizers.cues import CueRecognizer
    from uf_pii.recognizers.location import LocationRecognizer
    from uf_pii.recognizers.person import PersonRecognizer

    if backend is None:
        backend = shared_backend(model or DEFAULT_MODEL)
    return [PersonRecognizer(backend), LocationRecognizer(backend), CueRecognizer()]


def default_registry(
    *,
    regions: Sequence[str] | None = None,
    nlp: bool = True,
    spacy_model: str | None = None,
    custom_patterns: str | Path | None = None,
    entry_point_group: str | None = ENTRY_POINT_GROUP,
) -> RecognizerRegistry:
    """Built-ins + optional YAML patterns + entry-point plug-ins.

    ``nlp=False`` leaves PERSON/LOCATION out entirely (log filter).  Pass
    ``entry_point_group=None`` to skip plug-in discovery.
    """
    registry = RecognizerRegistry(structured_recognizers(regions))
    if nlp:
        for recognizer in nlp_recognizers(spacy_model):
            registry.register(recognizer)
    if custom_patterns is not None:
        registry.load_custom_patterns(custom_patterns)
    if entry_point_group:
        registry.load_entry_points(entry_point_group)
    return registry

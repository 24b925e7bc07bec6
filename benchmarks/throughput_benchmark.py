"""End-to-end `churnlens classify` throughput vs the raw encoder forward pass and a naive loop.

Usage: python benchmarks/throughput_benchmark.py [N_TEXTS] [PRECISION ...]
(default 500 texts drawn from the test split; precisions default to fp32 and onnx-int8)
Prints texts/s for: the encoder's batched forward pass alone; the whole classify path (read CSV,
language, sentence split, scoring, evidence, Parquet write); a per-record loop a user would write;
and the CLI's cold start.
"""
from __future__ import annotations

import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def texts_for(n: int) -> list[str]:
    from models.corpus import read_examples

    pool = [e.text for e in read_examples(ROOT / "models/data/splits/test.jsonl")]
    return [pool[i % len(pool)] + ("" if i < len(pool) else f" (#{i})") for i in range(n)]


def naive_pipeline_rate(encoder, classifier, texts: list[str]) -> float:
    """Texts/s of what a user would write first: a transformers pipeline called once per record."""
    import numpy as np
    from transformers import pipeline

    extract = pipeline("feature-extraction", model=encoder.model, tokenizer=encoder.tokenizer, device="cpu")
    extract("query: warm up")
    start = time.perf_counter()
    for text in texts:
        states = np.asarray(extract("query: " + text, truncation=True, max_length=512)[0])
        pooled = states.mean(axis=0)
        classifier.scores((pooled / np.linalg.norm(pooled))[None])
    return len(texts) / (time.perf_counter() - start)


def naive_padded_rate(encoder, classifier, texts: list[str]) -> float:
    """Texts/s of a per-record loop that pads every text to 512 tokens (a common tutorial default)."""
    import torch

    start = time.perf_counter()
    with torch.inference_mode():
        for text in texts:
            batch = encoder.tokenizer(["query: " + text], padding="max_length", truncation=True, max_length=512,
                                      return_tensors="pt")
            classifier.scores(encoder.forward(batch).numpy())
    return len(texts) / (time.perf_counter() - start)


def main(n: int = 500, precisions: tuple[str, ...] = ("fp32", "onnx-int8")) -> None:
    import torch

    from pipeline.config import LANGUAGES
    from pipeline.run import classify_file
    from pipeline.sentences import sentence_spans
    from pipeline.tagging import Tagger

    torch.set_num_threads(2)
    texts = texts_for(n)
    rows, best_e2e, naive_rates = [], {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.csv"
        with open(path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["id", "text"])
            writer.writerows([[i, t] for i, t in enumerate(texts)])
        for precision in precisions:
            tagger = Tagger.load(precision=precision)
            tagger.embed(texts[:16])  # warm-up: one-off loads (model, detector, sentence pipelines) are not throughput
            tagger.detect(texts[:16])
            for lang in LANGUAGES:
                sentence_spans("Warm up. Done.", lang)
            start = time.perf_counter()
            tagger.embed(texts)
            raw = n / (time.perf_counter() - start)
            rows.append((f"{precision}: encoder forward pass only (batched, length-sorted)", raw, raw))
            for evidence in ("checked", "fast", "off"):
                start = time.perf_counter()
                classify_file(path, Path(tmp) / f"out-{precision}-{evidence}.parquet",
                              Tagger.load(evidence=evidence, precision=precision))
                e2e = n / (time.perf_counter() - start)
                rows.append((f"{precision}: churnlens classify end to end, --evidence {evidence}", e2e, raw))
                best_e2e[f"{precision} --evidence {evidence}"] = e2e
            if precision == "fp32":
                fp32_raw = raw
    tagger = Tagger.load()

    from models.encoder import load_encoder

    encoder = load_encoder(tagger.classifier.meta.encoder, adapter=tagger.classifier.adapter_path)
    naive_n = n  # the same texts as the rows above
    naive_rates["pipeline"] = naive_pipeline_rate(encoder, tagger.classifier, texts[:naive_n])
    rows.append((f"fp32: naive loop, transformers pipeline('feature-extraction') per record ({naive_n} texts)",
                 naive_rates["pipeline"], fp32_raw))
    naive_rates["padded"] = naive_padded_rate(encoder, tagger.classifier, texts[:naive_n])
    rows.append((f"fp32: naive loop, per record padded to 512 tokens as many tutorials do ({naive_n} texts)",
                 naive_rates["padded"], fp32_raw))

    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipeline.cli", "--help"], capture_output=True, check=True, cwd=ROOT)
    cold_help = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:  # a fresh process: imports, model load, one record tagged and written
        one = Path(tmp) / "one.csv"
        one.write_text("id,text\n1,The price went up again and nobody answers my emails.\n", encoding="utf-8")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pipeline.cli", "classify", str(one), "-o", str(Path(tmp) / "one.parquet")],
                       capture_output=True, check=True, cwd=ROOT)
        first_record = time.perf_counter() - start

    table = Table(title=f"throughput on {n} feedback texts (2 threads)")
    table.add_column("path")
    table.add_column("texts/s", justify="right")
    table.add_column("× raw encoder (same precision)", justify="right")
    for name, rate, raw in rows:
        table.add_row(name, f"{rate:.1f}", f"{rate / raw:.2f}")
    Console(width=140).print(table)
    for name, e2e in best_e2e.items():
        print(f"{name} end to end vs the naive loop: {e2e / naive_rates['pipeline']:.1f}× (transformers pipeline), "
              f"{e2e / naive_rates['padded']:.1f}× (padded to 512)")
    print(f"cold start: `churnlens --help` {cold_help:.2f} s; `churnlens classify` of one record, "
          f"from process start to file written: {first_record:.1f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500, tuple(sys.argv[2:]) or ("fp32", "onnx-int8"))

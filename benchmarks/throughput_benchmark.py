"""End-to-end `churnlens classify` throughput vs the raw encoder forward pass and a naive loop.

Usage: python benchmarks/throughput_benchmark.py [N_TEXTS]   (default 500, drawn from the test split)
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


def main(n: int = 500) -> None:
    import torch

    from pipeline.run import classify_file
    from pipeline.tagging import Tagger

    torch.set_num_threads(2)
    texts = texts_for(n)
    tagger = Tagger.load()
    tagger.embed(texts[:16])  # warm-up
    rows = []

    start = time.perf_counter()
    tagger.embed(texts)
    raw = n / (time.perf_counter() - start)
    rows.append(("encoder forward pass only (batched, length-sorted)", raw))

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.csv"
        with open(path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["id", "text"])
            writer.writerows([[i, t] for i, t in enumerate(texts)])
        start = time.perf_counter()
        classify_file(path, Path(tmp) / "out.parquet", tagger)
        e2e = n / (time.perf_counter() - start)
        rows.append(("churnlens classify, end to end (with evidence)", e2e))
        no_evidence = Tagger.load(evidence=False)
        start = time.perf_counter()
        classify_file(path, Path(tmp) / "out2.parquet", no_evidence)
        rows.append(("churnlens classify, end to end (no evidence)", n / (time.perf_counter() - start)))

    from models.encoder import load_encoder

    encoder = load_encoder(tagger.classifier.meta.encoder, adapter=tagger.classifier.adapter_path)
    naive_n = min(n, 100)
    start = time.perf_counter()
    with torch.inference_mode():
        for text in texts[:naive_n]:  # what a user would write: one text, one forward pass, padded to 512
            batch = encoder.tokenizer(["query: " + text], padding="max_length", truncation=True, max_length=512,
                                      return_tensors="pt")
            tagger.classifier.scores(encoder.forward(batch).numpy())
    naive = naive_n / (time.perf_counter() - start)
    rows.append((f"naive per-record loop (padding='max_length', {naive_n} texts)", naive))

    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipeline.cli", "--help"], capture_output=True, check=True, cwd=ROOT)
    cold_help = time.perf_counter() - start

    table = Table(title=f"throughput on {n} feedback texts (2 threads)")
    table.add_column("path")
    table.add_column("texts/s", justify="right")
    table.add_column("× raw encoder", justify="right")
    for name, rate in rows:
        table.add_row(name, f"{rate:.1f}", f"{rate / raw:.2f}")
    Console(width=140).print(table)
    print(f"end-to-end vs naive loop: {e2e / naive:.1f}×;  `churnlens --help` cold start: {cold_help:.2f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)

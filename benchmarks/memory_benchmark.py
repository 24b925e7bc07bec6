"""Peak memory of `classify_file` as the input grows: it must stay flat (streaming, batch checkpoints).

Usage: python benchmarks/memory_benchmark.py [--real] [SIZES...]   (default sizes: 10000 100000 1000000)
Each size runs in a fresh process; the input CSV is generated on the fly (never committed).
By default the encoder is replaced by a hashing stand-in so that a million records finish in minutes:
that measures everything churnlens adds (reading, language detection, sentence splitting, checkpoints,
writing). `--real` uses the real model (about 20 texts/s here: use sizes of a few thousand).
"""
from __future__ import annotations

import csv
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
SNIPPETS = ["Too expensive for what it is.", "料金が高すぎるので解約します。", "Kundeservice svarer aldrig.",
            "Доставка опоздала на неделю, поддержка молчит.", "L'application plante sans arrêt.",
            "Der Techniker kam nicht wie versprochen.", "Nadie contesta el teléfono.", "客服一直不回复。"]


def make_input(path: Path, n: int) -> None:
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "comment", "segment"])
        for i in range(n):
            text = " ".join(rng.choice(SNIPPETS) for _ in range(rng.randint(1, 4)))
            writer.writerow([f"r{i}", f"{text} (#{i})", rng.choice(["SMB", "ENT"])])


CHILD = """
import sys, time
sys.path.insert(0, {root!r}); sys.path.insert(0, {root!r} + "/tests")
from pipeline.run import classify_file
from pipeline.tagging import Tagger
if {real}:
    tagger = Tagger.load()
else:
    from conftest import hashed_embed
    from models.classifier import ClassifierMeta, ReasonClassifier, build_head
    from pipeline.taxonomy import load_taxonomy
    tax = load_taxonomy({root!r} + "/labels.yaml"); labels = list(tax.ids)
    meta = ClassifierMeta(labels=labels, taxonomy_version=tax.version, taxonomy_fingerprint=tax.fingerprint(),
                          encoder="hashed", embedding_dim=64, hidden_dim=0, thresholds={{l: 0.5 for l in labels}})
    tagger = Tagger(tax, ReasonClassifier(build_head(64, 0, len(labels)), meta), hashed_embed)
start = time.perf_counter()
summary = classify_file({input!r}, {output!r}, tagger, batch_size=512)
import resource
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(summary.read, summary.tagged, summary.rejected, round(time.perf_counter() - start, 1), round(peak))
"""


def run(n: int, real: bool) -> tuple[int, int, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        source, output = Path(tmp) / "in.csv", Path(tmp) / "out.parquet"
        make_input(source, n)
        code = CHILD.format(root=str(ROOT), real=real, input=str(source), output=str(output))
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        read, tagged, rejected, seconds, peak_mb = result.stdout.split()[-5:]
        assert int(read) == n == int(tagged) + int(rejected), result.stdout
        return int(read), int(tagged), float(seconds), float(peak_mb)


def main(argv: list[str]) -> None:
    real = "--real" in argv
    sizes = [int(a) for a in argv if a.isdigit()] or [10_000, 100_000, 1_000_000]
    table = Table(title=f"peak memory of classify_file ({'real model' if real else 'hashing stand-in encoder'})")
    for col in ("records", "tagged", "seconds", "records/s", "peak RSS (MB)"):
        table.add_column(col, justify="right")
    for n in sizes:
        read, tagged, seconds, peak = run(n, real)
        table.add_row(f"{n:,}", f"{tagged:,}", f"{seconds:.0f}", f"{read / seconds:,.0f}", f"{peak:,.0f}")
        Console().print(table)


if __name__ == "__main__":
    main(sys.argv[1:])

"""Re-labelling 100k stored records: resumable, nothing lost, history kept. Prints a table.

Usage: python benchmarks/relabel_benchmark.py [--records 100000] [--store URL]
The store is filled by tagging a generated CSV with model "bench-A", then re-labelled with
"bench-B": first interrupted half-way (Ctrl-C is simulated after half the batches), then resumed.
Both models are hashing stand-ins with random heads, so this measures the store and the job
(reading, writing, history) — with the real encoder the encoder dominates (see README: ~14 texts/s).
Default store: a temporary DuckDB file; pass --store postgresql://… to measure PostgreSQL.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from memory_benchmark import make_input  # noqa: E402
from tests.conftest import make_stand_in_tagger  # noqa: E402

from pipeline.store import open_store  # noqa: E402
from pipeline.store.jobs import relabel, tag_into_store  # noqa: E402
from pipeline.taxonomy import load_taxonomy  # noqa: E402


class Interrupt(Exception):
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--store", default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="churnlens-relabel-"))
    url = args.store or str(work / "bench.duckdb")
    source = work / "input.csv"
    make_input(source, args.records)
    taxonomy = load_taxonomy(ROOT / "labels.yaml")
    old, new = make_stand_in_tagger(taxonomy, "bench-A", 1), make_stand_in_tagger(taxonomy, "bench-B", 2)
    rows = []
    with open_store(url) as store:
        start = time.perf_counter()
        summary = tag_into_store(source, store, old, batch_size=1000)
        rows.append(("tag into store (bench-A)", summary.read, time.perf_counter() - start))

        seen = {"n": 0}

        def stop_half_way(n: int) -> None:
            seen["n"] += n
            if seen["n"] >= args.records // 2:
                raise Interrupt

        start = time.perf_counter()
        try:
            relabel(store, new, batch_size=1000, on_batch=stop_half_way)
        except Interrupt:
            pass
        rows.append(("re-label, interrupted half-way", seen["n"], time.perf_counter() - start))
        pending = store.count_pending("bench-B", taxonomy.version)
        start = time.perf_counter()
        report = relabel(store, new, batch_size=1000)
        rows.append(("re-label, resumed", report.relabelled, time.perf_counter() - start))
        counts = store.counts()
        left = store.count_pending("bench-B", taxonomy.version)
        flips = report.changed_labels
    table = Table(title=f"re-labelling {args.records:,} records ({url.split('://')[0] if '://' in url else 'duckdb'})")
    for column in ("step", "records", "seconds", "records/s"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for step, n, seconds in rows:
        table.add_row(step, f"{n:,}", f"{seconds:.1f}", f"{n / seconds:,.0f}")
    console = Console()
    console.print(table)
    reconciles = seen["n"] + report.relabelled == summary.tagged and left == 0
    console.print(f"pending after interruption: {pending:,}; after resume: {left:,}")
    console.print(f"records {counts['records']:,}, labelings {counts['labelings']:,} "
                  f"(= 2 × records: old labels kept as history), label flips reported: {flips:,}")
    console.print(f"interrupted + resumed = tagged: {'yes' if reconciles else 'NO'}; "
                  f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()

"""The Prefect flow locally vs on a Dask LocalCluster of 1 and 2 worker processes.

Usage: python benchmarks/dask_benchmark.py [N_TEXTS] [CHUNK_SIZE]
(default: 400 texts from the test split, chunks of 50).

Every configuration runs the whole flow end to end (split, tag, merge) against one running Prefect API,
as a deployment with a server would; the times include starting the cluster and loading the model in
each worker, which a real run pays once. Prints records, seconds, texts/s, speed-up and the CPU time
each configuration used.
"""
from __future__ import annotations

import csv
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

CONFIGURATIONS = [("local: 1 task thread, torch on every core", None),
                  ("Dask LocalCluster, 1 worker × all cores", 1),
                  ("Dask LocalCluster, 2 workers × 1 core", 2)]


def main(n: int = 400, chunk_size: int = 50) -> None:
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness
    from rich.console import Console
    from rich.table import Table

    from flows.tag_feedback import run_tag_feedback
    from models.encoder import load_encoder
    from throughput_benchmark import texts_for

    load_encoder()  # convert the encoder once, outside the timings
    rows = []
    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness(server_startup_timeout=120):
        os.environ["PREFECT_API_URL"] = PREFECT_API_URL.value()
        path = Path(tmp) / "in.csv"
        with open(path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["id", "text"])
            writer.writerows([[i, t] for i, t in enumerate(texts_for(n))])
        for name, workers in CONFIGURATIONS:
            cpu, busy, start = cpu_seconds(), machine_busy_seconds(), time.perf_counter()
            summary = run_tag_feedback(str(path), str(Path(tmp) / f"out-{workers}.parquet"), chunk_size=chunk_size,
                                       dask_workers=workers)
            seconds, cpu, busy = time.perf_counter() - start, cpu_seconds() - cpu, machine_busy_seconds() - busy
            assert summary.reconciles and summary.tagged == n, summary.as_dict()
            rows.append((name, summary.tagged, seconds, cpu, max(0.0, busy - cpu)))
    table = Table(title=f"tag-feedback flow on {n} texts, chunks of {chunk_size}, {os.cpu_count()} cores")
    for column in ("configuration", "records", "seconds", "texts/s", "speed-up", "CPU s", "others' CPU s"):
        table.add_column(column, justify="left" if column == "configuration" else "right")
    for name, records, seconds, cpu, others in rows:
        table.add_row(name, str(records), f"{seconds:.1f}", f"{records / seconds:.1f}",
                      f"{rows[0][2] / seconds:.2f}×", f"{cpu:.0f}", f"{others:.0f}")
    Console(width=140).print(table)
    print(f"CPU s: user + system time of this process and of the worker processes.\nothers' CPU s: CPU time the "
          f"rest of the machine used meanwhile (the Prefect API server and any other job), out of "
          f"{os.cpu_count()} × seconds available: far from 0 means the row was slowed down by someone else.")


def machine_busy_seconds() -> float:
    """CPU time used by every process on the machine since boot (Linux ``/proc/stat``; 0 elsewhere)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> float:
    """CPU time used so far by this process and its finished children (a LocalCluster's workers, once closed)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":  # required: Dask's worker processes are spawned and re-import this module
    main(*(int(a) for a in sys.argv[1:3]))

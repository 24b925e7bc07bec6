"""A run killed with SIGKILL and started again finishes without duplicates or gaps."""
import csv
import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from pipeline.checkpoint import Checkpoints
from pipeline.errors import ChurnlensError


def _cli(*args):
    return [sys.executable, "-m", "pipeline.cli", *args]


def test_killed_run_resumes_without_duplicates_or_gaps(tmp_path, encoder):
    path = tmp_path / "in.csv"
    n = 400
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "comment"])
        for i in range(n):
            writer.writerow([f"r{i}", f"Complaint number {i}: the price went up again and nobody answers."])
    out = tmp_path / "out.parquet"
    args = _cli("classify", str(path), "-o", str(out), "--batch-size", "40")
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parts = tmp_path / "out.parquet.parts"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(parts.glob("tagged-*.parquet"))) < 3:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(list(parts.glob("tagged-*.parquet")))
    assert 3 <= done_before < n // 40, "the run should have been killed mid-way"
    assert not out.exists()

    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"resumed: {done_before} batches" in result.stdout
    ids = pq.read_table(out).column("id").to_pylist()
    assert sorted(ids) == sorted(f"r{i}" for i in range(n)) and len(ids) == len(set(ids))
    assert not parts.exists()


def test_second_run_on_the_same_output_is_refused(tmp_path):
    out = tmp_path / "out.parquet"
    with Checkpoints(out, {"a": 1}):
        with pytest.raises(ChurnlensError, match="another churnlens run is writing"):
            with Checkpoints(out, {"a": 1}):
                pass


def test_parts_from_another_input_are_discarded(tmp_path):
    out = tmp_path / "out.parquet"
    with Checkpoints(out, {"input": "a"}) as first:
        (first.directory / "tagged-0000000.parquet").write_bytes(b"x")
        (first.directory / "rejects-0000000.parquet").write_bytes(b"x")
        assert first.done(0)
    with Checkpoints(out, {"input": "b"}) as second:
        assert not second.done(0)

"""The flow on a Dask LocalCluster of 2 worker processes gives what the local run gives.

Worker processes cannot see the tests' stand-in tagger, so this runs the real committed model on a
small input. The workers report to the session's Prefect test server (otherwise each would start its
own embedded API, ~50 s).
"""
import csv
import os

import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.slow

TEXTS = ["Way too expensive, your competitor charges half the price.",
         "商品が届いてすぐに壊れました。品質が悪すぎます。",
         "Jeg har ringet fem gange og ventet over en time i telefonkøen.",
         "Мы переезжаем в другой город.",
         "Le technicien devait venir mardi comme promis, il n'est jamais venu.",
         ""]
# Dask's nanny writes these into the parent's environment before it spawns a worker; restore them after.
NANNY_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_", "PYTHONHASHSEED")


@pytest.fixture
def worker_env(monkeypatch, prefect_harness):
    monkeypatch.setenv("PREFECT_API_URL", prefect_harness)  # set before the cluster starts: workers inherit it
    for name in NANNY_ENV:
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)


def test_local_cluster_gives_the_same_output_as_the_local_run(worker_env, tagger, tmp_path):
    from flows.tag_feedback import run_tag_feedback

    path = tmp_path / "in.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "comment", "segment"])
        for i in range(42):
            text = TEXTS[i % len(TEXTS)]
            writer.writerow([f"r{i:02d}", f"{text} ({i})" if text else "", "SMB" if i % 2 else "ENT"])
    local = run_tag_feedback(str(path), str(tmp_path / "local.parquet"), chunk_size=9)
    dask = run_tag_feedback(str(path), str(tmp_path / "dask.parquet"), chunk_size=9, dask_workers=2)

    assert (dask.read, dask.tagged, dask.rejected) == (local.read, local.tagged, local.rejected) == (42, 35, 7)
    assert dask.labels == local.labels and dask.languages == local.languages
    ours = pq.read_table(tmp_path / "dask.parquet").to_pylist()
    theirs = pq.read_table(tmp_path / "local.parquet").to_pylist()
    key = ["id", "row_number", "language", "labels", "primary_label", "evidence", "segment"]
    assert [{k: r[k] for k in key} for r in ours] == [{k: r[k] for k in key} for r in theirs]
    for a, b in zip(ours, theirs):  # one torch thread per worker vs two locally: sums may differ in the last bits
        assert dict(a["scores"]) == pytest.approx(dict(b["scores"]), abs=1e-3)
    assert pq.read_table(tmp_path / "dask.rejects.parquet").to_pylist() == \
        pq.read_table(tmp_path / "local.rejects.parquet").to_pylist()

"""The Prefect flow: task logic through .fn(), chunked runs under prefect_test_harness, one real-model run."""
import csv
import json

import pyarrow.parquet as pq
import pytest

from pipeline.errors import ChurnlensError
from pipeline.run import classify_file

COMPARED = ["id", "text", "language", "labels", "scores", "primary_label", "uncertain", "evidence", "row_number",
            "channel"]


def _write_csv(path):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "comment", "channel"])
        writer.writerow(["a", "Alt for dyrt, jeg skifter til et billigere selskab.", "email"])
        writer.writerow(["b", "サポートに何度電話してもつながりません。", "call"])
        writer.writerow(["c", "", "call"])


def _write_many(path, n=30):
    texts = ["The price went up again, I am cancelling.", "Nobody answers the phone, I waited an hour.",
             "商品が届いてすぐに壊れました。", "Le technicien n'est jamais venu comme promis.", "   "]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "comment", "channel"])
        for i in range(n):
            writer.writerow([f"r{i:02d}", texts[i % len(texts)] + ("" if i % 5 == 4 else f" #{i}"), f"ch{i % 2}"])
    return path


@pytest.fixture
def stand_in(monkeypatch, stand_in_tagger):
    """The flow's tagging tasks use the fast stand-in tagger (same process: the local task runner)."""
    from flows import tag_feedback as module

    monkeypatch.setattr(module, "_tagger", lambda *settings: stand_in_tagger)
    return stand_in_tagger


def test_split_task_logic_without_prefect_runtime(tmp_path):
    from flows.tag_feedback import split

    path = tmp_path / "in.csv"
    _write_csv(path)
    plan = split.fn(str(path), str(tmp_path / "work"), None, None, None, 1, False)
    assert (len(plan.chunks), plan.records, plan.rejected) == (2, 2, 1)


def test_chunked_flow_reconciles_and_matches_classify_file(prefect_harness, stand_in, tmp_path):
    from flows.tag_feedback import tag_feedback

    path = _write_many(tmp_path / "in.csv")
    out = tmp_path / "out" / "tagged.parquet"
    state = tag_feedback(str(path), str(out), chunk_size=7, return_state=True)
    assert state.is_completed() and state.message == "read 30 = tagged 24 + rejected 6"
    summary = state.result()
    assert summary.reconciles and summary.resumed_batches == 0
    expected = classify_file(path, tmp_path / "whole.parquet", stand_in)
    whole = pq.read_table(tmp_path / "whole.parquet")
    assert pq.read_table(out).select(COMPARED).to_pylist() == whole.select(COMPARED).to_pylist()
    assert pq.read_table(tmp_path / "out" / "tagged.rejects.parquet").to_pylist() == \
        pq.read_table(tmp_path / "whole.rejects.parquet").to_pylist()
    assert summary.labels == expected.labels
    assert not (tmp_path / "out" / "tagged.parquet.parts").exists()


def test_a_failing_chunk_goes_to_rejects_and_the_others_finish(prefect_harness, stand_in, tmp_path, monkeypatch):
    from flows.tag_feedback import tag_feedback

    original = stand_in.tag

    def flaky(batch, languages=None):
        if any("商品" in t for t in batch.texts):
            raise RuntimeError("simulated model crash")
        return original(batch, languages)

    monkeypatch.setattr(stand_in, "tag", flaky)
    path = _write_many(tmp_path / "in.csv", n=10)  # r04, r09 empty; chunks [r00 r01 r02] [r03 r05 r06] [r07 r08]
    out = tmp_path / "out.jsonl"  # r02 and r07 are Japanese: the first and last chunks fail
    state = tag_feedback(str(path), str(out), chunk_size=3, return_state=True)
    assert state.is_completed()
    assert state.message == "read 10 = tagged 3 + rejected 7"
    rejects = [json.loads(line) for line in (tmp_path / "out.rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    failed = [r for r in rejects if r["reason"] == "processing_error"]
    assert sorted(r["id"] for r in failed) == ["r00", "r01", "r02", "r07", "r08"]
    assert all("simulated model crash" in r["message"] for r in failed)
    assert sorted(r["reason"] for r in rejects if r not in failed) == ["empty_text", "empty_text"]


def test_an_interrupted_run_reuses_finished_chunks(prefect_harness, stand_in, tmp_path, monkeypatch):
    from flows import tag_feedback as module

    path = _write_many(tmp_path / "in.csv")
    out = tmp_path / "out.parquet"
    real_merge = module.chunks.merge_parts

    def disk_full(*args):
        raise ChurnlensError("simulated: disk full while writing the output")

    monkeypatch.setattr(module.chunks, "merge_parts", disk_full)
    state = module.tag_feedback(str(path), str(out), chunk_size=7, return_state=True)
    assert state.is_failed() and not out.exists()
    assert len(list((tmp_path / "out.parquet.parts").glob("tagged-*.parquet"))) == 4

    monkeypatch.setattr(module.chunks, "merge_parts", real_merge)
    monkeypatch.setattr(stand_in, "detect", lambda texts: pytest.fail("finished chunks must not be tagged again"))
    summary = module.tag_feedback(str(path), str(out), chunk_size=7)
    assert (summary.read, summary.tagged, summary.resumed_batches) == (30, 24, 4)
    assert pq.read_table(out).num_rows == 24 and not (tmp_path / "out.parquet.parts").exists()


def test_the_task_runner_is_chosen_by_configuration():
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    from flows.tag_feedback import local_cluster, task_runner

    assert isinstance(task_runner(), ThreadPoolTaskRunner)
    remote = task_runner(dask_address="tcp://10.0.0.5:8786")
    assert isinstance(remote, DaskTaskRunner) and remote.address == "tcp://10.0.0.5:8786"
    local = task_runner(dask_workers=2)
    assert local.cluster_class is local_cluster and local.cluster_kwargs == {"n_workers": 2}
    with pytest.raises(ValueError, match="either dask_address .* or dask_workers"):
        task_runner(dask_address="tcp://10.0.0.5:8786", dask_workers=2)


def test_flow_run_with_the_real_model(prefect_harness, tagger, tmp_path):
    from flows.tag_feedback import tag_feedback

    path = tmp_path / "in.csv"
    _write_csv(path)
    out = tmp_path / "out" / "tagged.parquet"
    summary = tag_feedback(str(path), str(out), chunk_size=1)
    assert (summary.read, summary.tagged, summary.rejected) == (3, 2, 1)
    rows = pq.read_table(out).to_pylist()
    assert [r["language"] for r in rows] == ["da", "ja"] and [r["channel"] for r in rows] == ["email", "call"]
    assert "price" in rows[0]["labels"] and "responsiveness" in rows[1]["labels"]
    assert pq.read_table(tmp_path / "out" / "tagged.rejects.parquet").num_rows == 1

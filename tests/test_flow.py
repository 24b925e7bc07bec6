"""The Prefect flow: task logic through .fn(), and one real run under prefect_test_harness."""
import csv

import pyarrow.parquet as pq
import pytest


@pytest.fixture(scope="module")
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def _write_csv(path):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "comment", "channel"])
        writer.writerow(["a", "Alt for dyrt, jeg skifter til et billigere selskab.", "email"])
        writer.writerow(["b", "サポートに何度電話してもつながりません。", "call"])
        writer.writerow(["c", "", "call"])


def test_read_task_logic_without_prefect_runtime(tmp_path):
    from flows.tag_feedback import read_input

    path = tmp_path / "in.csv"
    _write_csv(path)
    batches = read_input.fn(str(path), None, None, None)
    assert sum(len(b) for b in batches) == 2 and sum(len(b.rejects) for b in batches) == 1


def test_flow_run_tags_and_reconciles(harness, tagger, tmp_path):
    from flows.tag_feedback import tag_feedback

    path = tmp_path / "in.csv"
    _write_csv(path)
    out = tmp_path / "out" / "tagged.parquet"
    summary = tag_feedback(str(path), str(out))
    assert (summary.read, summary.tagged, summary.rejected) == (3, 2, 1)
    rows = pq.read_table(out).to_pylist()
    assert [r["language"] for r in rows] == ["da", "ja"]
    assert "price" in rows[0]["labels"] and "responsiveness" in rows[1]["labels"]
    assert pq.read_table(tmp_path / "out" / "tagged.rejects.parquet").num_rows == 1


def test_failed_batch_goes_to_rejects_and_the_rest_is_tagged(harness, tagger, tmp_path, monkeypatch):
    from flows import tag_feedback as module

    path = tmp_path / "in.csv"
    _write_csv(path)
    loaded = module._tagger(str(module.DEFAULT_MODEL_DIR), str(module.DEFAULT_LABELS), module.DEFAULT_DETECTOR)
    original = loaded.tag

    def flaky(batch, languages=None):
        if any("サポート" in t for t in batch.texts):
            raise RuntimeError("simulated model crash")
        return original(batch, languages)

    monkeypatch.setattr(loaded, "tag", flaky)
    from pipeline.ingest import read_records

    monkeypatch.setattr(module, "read_records", lambda *a, **k: read_records(*a, **k, batch_size=1))
    out = tmp_path / "out.parquet"
    state = module.tag_feedback(str(path), str(out), return_state=True)
    assert state.is_completed()
    assert "read 3 = tagged 1 + rejected 2" in state.message
    rejects = pq.read_table(tmp_path / "out.rejects.parquet").to_pylist()
    assert sorted(r["reason"] for r in rejects) == ["empty_text", "processing_error"]
    assert "simulated model crash" in [r for r in rejects if r["reason"] == "processing_error"][0]["message"]

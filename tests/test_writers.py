import csv
import json
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.ingest import InputBatch, Reject
from pipeline.records import build_tagged_table, rejects_table
from pipeline.tagging import Predictions
from pipeline.writers import open_sink


def _table():
    batch = InputBatch(ids=["a", "b"], texts=["高すぎる", "Service lent, « nul »"], row_numbers=[1, 2],
                       passthrough=pa.table({"segment": ["SMB", "ENT"], "language": ["x", "y"]}))
    predictions = Predictions(["price", "quality"], np.array([[0.9, 0.1], [0.2, 0.8]]), [["price"], ["quality"]],
                              [False, True], [{"price": (0, 4, "高すぎる")}, {"quality": (0, 12, "Service lent")}])
    return build_tagged_table(batch, [("ja", 1.0), ("fr", 0.9)], predictions, model_version="m1",
                              taxonomy_version="1.0", processed_at=datetime(2026, 1, 2, tzinfo=timezone.utc))


def test_passthrough_clash_is_renamed():
    table = _table()
    assert table.column("language").to_pylist() == ["ja", "fr"]
    assert table.column("input_language").to_pylist() == ["x", "y"]
    assert table.column("primary_label").to_pylist() == ["price", "quality"]


@pytest.mark.parametrize("ext", ["parquet", "csv", "jsonl"])
def test_round_trip_preserves_ids_text_labels(tmp_path, ext):
    path = tmp_path / f"out.{ext}"
    with open_sink(path) as sink:
        sink.write(_table())
    if ext == "parquet":
        rows = pq.read_table(path).to_pylist()
        labels = [r["labels"] for r in rows]
        scores = [dict(r["scores"]) for r in rows]
        evidence = [dict(r["evidence"]) for r in rows]
    elif ext == "csv":
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf"), "Excel needs the BOM to show Japanese"
        rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
        labels = [json.loads(r["labels"]) for r in rows]
        scores = [json.loads(r["scores"]) for r in rows]
        evidence = [json.loads(r["evidence"]) for r in rows]
    else:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        labels = [r["labels"] for r in rows]
        scores = [r["scores"] for r in rows]
        evidence = [r["evidence"] for r in rows]
    assert [r["id"] for r in rows] == ["a", "b"]
    assert [r["text"] for r in rows] == ["高すぎる", "Service lent, « nul »"]
    assert labels == [["price"], ["quality"]]
    assert scores[0] == {"price": 0.9, "quality": 0.1}
    assert evidence[1] == {"quality": {"text": "Service lent", "start": 0, "end": 12}}


def test_failed_write_leaves_no_partial_file(tmp_path):
    path = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError):
        with open_sink(path) as sink:
            sink.write(_table())
            raise RuntimeError("crash mid-run")
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_rejects_written_with_reason(tmp_path):
    path = tmp_path / "rejects.csv"
    with open_sink(path) as sink:
        sink.write(rejects_table([Reject(3, "empty_text", "text is empty", "x", "  ")]))
    rows = list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines()))
    assert rows == [{"row_number": "3", "id": "x", "reason": "empty_text", "message": "text is empty", "raw": "  "}]


def test_unknown_output_extension():
    with pytest.raises(ValueError, match="use one of .parquet, .csv, .jsonl"):
        open_sink("out.xlsx")


def test_csv_cells_that_excel_would_execute_are_neutralised(tmp_path):
    path = tmp_path / "out.csv"
    with open_sink(path) as sink:
        sink.write(pa.table({"text": ["=HYPERLINK(\"http://evil\")", "@SUM(A1)", "fine", "-1+2"], "n": [1, -2, 3, 4]}))
    rows = list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines()))
    assert [r["text"] for r in rows] == ["'=HYPERLINK(\"http://evil\")", "'@SUM(A1)", "fine", "'-1+2"]
    assert [r["n"] for r in rows] == ["1", "-2", "3", "4"]  # numbers stay numbers

"""Split → tag each chunk → merge (the library side of the flow) gives what classify_file gives."""
import csv
import json

import pyarrow.parquet as pq
import pytest

from pipeline import chunks
from pipeline.run import classify_file

TEXTS = ["Too expensive, I am leaving.", "Nobody answers the phone.", "サポートに何度電話してもつながりません。",
         "Alt for dyrt, jeg skifter til et billigere selskab.", "Le technicien n'est jamais venu."]


def _write_csv(path, n=23):
    """``n`` rows (every 7th has an empty text), an id column and a pass-through column."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "comment", "channel"])
        for i in range(n):
            writer.writerow([f"r{i}", "" if i % 7 == 3 else f"{TEXTS[i % len(TEXTS)]} ({i})", f"ch{i % 3}"])
    return path


def _tag_all(plan, tagger, redact=False):
    for chunk, part in zip(plan.chunks, plan.tagged_parts):
        chunks.tag_chunk(chunk, part, tagger, redact)


def test_split_makes_chunks_of_at_most_chunk_size_and_keeps_every_row(tmp_path):
    plan = chunks.split_input(_write_csv(tmp_path / "in.csv"), tmp_path / "work", chunk_size=5)
    sizes = [pq.read_metadata(c).num_rows for c in plan.chunks]
    assert sizes == [5, 5, 5, 5] and (plan.records, plan.rejected) == (20, 3)
    first = pq.read_table(plan.chunks[0]).to_pylist()[0]
    assert first == {"__id__": "r0", "__text__": f"{TEXTS[0]} (0)", "__row_number__": 1, "channel": "ch0"}
    rejects = pq.read_table(plan.rejects).to_pylist()
    assert [(r["row_number"], r["reason"]) for r in rejects] == [(4, "empty_text"), (11, "empty_text"),
                                                                  (18, "empty_text")]


def test_a_complete_split_is_reused(tmp_path):
    path = _write_csv(tmp_path / "in.csv")
    plan = chunks.split_input(path, tmp_path / "work", chunk_size=5)
    path.unlink()  # the second call must not even read the input
    assert chunks.split_input(path, tmp_path / "work", chunk_size=5) == plan


def test_chunk_size_below_one_is_refused(tmp_path):
    with pytest.raises(ValueError, match="chunk_size must be at least 1 record, got 0"):
        chunks.split_input(_write_csv(tmp_path / "in.csv"), tmp_path / "work", chunk_size=0)


@pytest.mark.parametrize("ext", ["parquet", "csv", "jsonl"])
def test_chunked_run_gives_what_classify_file_gives(stand_in_tagger, tmp_path, ext):
    path = _write_csv(tmp_path / "in.csv")
    expected = classify_file(path, tmp_path / "whole.parquet", stand_in_tagger)
    plan = chunks.split_input(path, tmp_path / "work", chunk_size=4)
    _tag_all(plan, stand_in_tagger)
    out = tmp_path / f"chunked.{ext}"
    summary = chunks.merge_parts(plan.tagged_parts, [plan.rejects], out, tmp_path / f"chunked.rejects.{ext}")
    assert (summary.read, summary.tagged, summary.rejected) == (expected.read, expected.tagged, expected.rejected)
    assert summary.labels == expected.labels and summary.reject_reasons == expected.reject_reasons
    if ext == "parquet":
        keep = ["id", "text", "language", "labels", "scores", "primary_label", "evidence", "row_number", "channel"]
        whole = pq.read_table(tmp_path / "whole.parquet")
        assert pq.read_table(out).select(keep).to_pylist() == whole.select(keep).to_pylist()
    else:
        assert out.exists() and (tmp_path / f"chunked.rejects.{ext}").exists()


def test_pass_through_columns_are_unified_across_chunks(stand_in_tagger, tmp_path):
    path = tmp_path / "in.jsonl"
    rows = [{"id": "a", "text": "Too expensive."}, {"id": "b", "text": "Nobody answers.", "plan": "gold"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    plan = chunks.split_input(path, tmp_path / "work", chunk_size=1)
    _tag_all(plan, stand_in_tagger)
    chunks.merge_parts(plan.tagged_parts, [plan.rejects], tmp_path / "out.parquet", tmp_path / "rej.parquet")
    assert [(r["id"], r["plan"]) for r in pq.read_table(tmp_path / "out.parquet").to_pylist()] == [("a", None),
                                                                                                  ("b", "gold")]


def test_an_existing_part_is_kept_not_redone(stand_in_tagger, tmp_path):
    plan = chunks.split_input(_write_csv(tmp_path / "in.csv"), tmp_path / "work", chunk_size=10)
    assert chunks.tag_chunk(plan.chunks[0], plan.tagged_parts[0], stand_in_tagger) == {"tagged": 10, "resumed": 0}

    class Broken:
        def detect(self, texts):
            raise AssertionError("a finished part must not be tagged again")

    assert chunks.tag_chunk(plan.chunks[0], plan.tagged_parts[0], Broken()) == {"tagged": 10, "resumed": 1}


def test_a_failed_chunk_becomes_processing_error_rejects_redacted(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,text\nx1,Call me on +44 20 7946 0958 or mail a.b@example.com\nx2,Too expensive\n",
                    encoding="utf-8")
    plan = chunks.split_input(path, tmp_path / "work", chunk_size=10)
    assert chunks.reject_chunk(plan.chunks[0], plan.failed_parts[0], "tagging failed: boom", redact=True) == 2
    rejects = pq.read_table(plan.failed_parts[0]).to_pylist()
    assert [(r["id"], r["row_number"], r["reason"], r["message"]) for r in rejects] == [
        ("x1", 1, "processing_error", "tagging failed: boom"), ("x2", 2, "processing_error", "tagging failed: boom")]
    assert rejects[0]["raw"] == "Call me on [PHONE] or mail [EMAIL]"

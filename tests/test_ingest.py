import csv
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.errors import InputError
from pipeline.ingest import content_id, read_records

ROWS = [("1", "高すぎるので解約します", "SMB"), ("2", "Très cher, déçu du service", "ENT"), ("3", "For dyrt", "SMB")]


def _collect(path, **kwargs):
    batches = list(read_records(path, **kwargs))
    ids = [i for b in batches for i in b.ids]
    texts = [t for b in batches for t in b.texts]
    rejects = [r for b in batches for r in b.rejects]
    passthrough = [row for b in batches for row in b.passthrough.to_pylist()]
    return ids, texts, rejects, passthrough


def _csv(rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows([("id", "comment", "segment"), *rows])
    return buffer.getvalue()


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_csv_unicode_encodings_detected(tmp_path, encoding):
    path = tmp_path / "in.csv"
    path.write_bytes(_csv(ROWS).encode(encoding))
    ids, texts, rejects, passthrough = _collect(path, text_column="comment")
    assert ids == ["1", "2", "3"]
    assert texts == [r[1] for r in ROWS]
    assert passthrough == [{"segment": r[2]} for r in ROWS]
    assert rejects == []


def test_shift_jis_detected(tmp_path):
    path = tmp_path / "sjis.csv"
    path.write_bytes("id,comment\n1,料金が高すぎるので解約します。\n2,サポートの対応が遅い\n".encode("cp932"))
    _, texts, _, _ = _collect(path)
    assert texts == ["料金が高すぎるので解約します。", "サポートの対応が遅い"]


def test_cp1252_detected(tmp_path):
    path = tmp_path / "win.csv"
    path.write_bytes("id,comment\n1,Très cher — déçu\n2,Qualité médiocre\n".encode("cp1252"))
    _, texts, _, _ = _collect(path)
    assert texts == ["Très cher — déçu", "Qualité médiocre"]


def test_encoding_given_by_flag_wins(tmp_path):
    path = tmp_path / "win.csv"
    path.write_bytes("id,comment\n1,Très cher\n".encode("cp1252"))
    _, texts, _, _ = _collect(path, encoding="cp1252")
    assert texts == ["Très cher"]


def test_wrong_encoding_flag_rejects_rows_with_a_clear_reason(tmp_path):
    path = tmp_path / "sjis.csv"
    path.write_bytes("id,comment\n1,料金が高い\n2,ok\n".encode("cp932"))
    ids, _, rejects, _ = _collect(path, encoding="utf-8")
    assert ids == ["2"]
    assert [(r.row_number, r.reason) for r in rejects] == [(1, "invalid_encoding")]
    assert "drop --encoding" in rejects[0].message and "\\x" in rejects[0].raw


def test_mixed_encodings_in_one_file_are_repaired(tmp_path):
    path = tmp_path / "mixed.csv"
    utf8 = "".join(f"{i},Qualité médiocre n°{i}\n" for i in range(1, 11))
    raw = ("id,comment\n" + utf8).encode("utf-8") + "11,Très déçu du délai\n".encode("cp1252") \
        + "12,料金が高すぎる\n".encode("cp932")
    path.write_bytes(raw)
    ids, texts, rejects, _ = _collect(path)
    assert rejects == []
    assert texts[-2:] == ["Très déçu du délai", "料金が高すぎる"]


def test_tsv_with_embedded_newline(tmp_path):
    path = tmp_path / "in.tsv"
    path.write_text('id\tcomment\n1\t"line one\nline two"\n2\tplain\n', encoding="utf-8")
    _, texts, _, _ = _collect(path)
    assert texts == ["line one\nline two", "plain"]


def test_jsonl_and_parquet_keep_passthrough(tmp_path):
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("".join(json.dumps({"id": i, "text": t, "score": 3}, ensure_ascii=False) + "\n"
                             for i, t, _ in ROWS), encoding="utf-8")
    ids, texts, _, passthrough = _collect(jsonl)
    assert ids == ["1", "2", "3"] and texts == [r[1] for r in ROWS]
    assert passthrough[0] == {"score": "3"}

    parquet = tmp_path / "in.parquet"
    pq.write_table(pa.table({"ref": ["a", "b", "c"], "feedback": [r[1] for r in ROWS], "revenue": [1.5, 2.0, 3.0]}), parquet)
    ids, texts, _, passthrough = _collect(parquet, id_column="ref")
    assert ids == ["a", "b", "c"] and passthrough[2] == {"revenue": 3.0}


def test_missing_text_column_lists_available_columns(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text(_csv(ROWS), encoding="utf-8")
    with pytest.raises(InputError, match=r"column 'body' not found in in.csv \(columns: id, comment, segment\); pass --text-column"):
        _collect(path, text_column="body")
    with pytest.raises(InputError, match=r"id column 'ref' not found .*columns: id, comment, segment"):
        _collect(path, text_column="comment", id_column="ref")


def test_ambiguous_text_column_asks_for_flag(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("a,b\nx,y\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"no text column chosen.*columns: a, b.*--text-column"):
        _collect(path)


def test_ids_are_content_hashes_when_absent_and_stable(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("comment\nToo expensive\nNo one answers\n", encoding="utf-8")
    ids, _, _, _ = _collect(path)
    assert ids == [content_id("Too expensive"), content_id("No one answers")]
    assert ids == _collect(path)[0]


def test_every_row_is_kept_or_rejected_with_a_reason(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,comment,segment\n1,ok text,A\n2,   ,B\n3,a,b,c\n1,duplicate id,C\n,no id,D\n4,fine,E\n",
                    encoding="utf-8")
    ids, _, rejects, _ = _collect(path)
    assert ids == ["1", "4"]
    assert sorted((r.row_number, r.reason) for r in rejects) == [
        (2, "empty_text"), (3, "malformed_row"), (4, "duplicate_id"), (5, "missing_id")]
    assert len(ids) + len(rejects) == 6


def test_batches_are_bounded(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("comment\n" + "".join(f"text number {i}\n" for i in range(25)), encoding="utf-8")
    sizes = [len(b) for b in read_records(path, batch_size=10)]
    assert sizes == [10, 10, 5]


def test_unknown_extension_and_empty_file(tmp_path):
    odd = tmp_path / "in.xlsx"
    odd.write_bytes(b"PK")
    with pytest.raises(InputError, match="unknown extension '.xlsx'"):
        _collect(odd)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert _collect(empty) == ([], [], [], [])


def test_unbalanced_quote_loses_only_its_own_row(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text('id,comment\n1,"Too expensive\n2,ok then\n3,Bad "quoted" word\n4,"fine, really"\n5,"x"y\n6,last\n',
                    encoding="utf-8")
    ids, texts, rejects, _ = _collect(path)
    assert ids == ["2", "3", "4", "6"]
    assert texts[2] == "fine, really"
    assert [(r.row_number, r.reason) for r in rejects] == [(1, "malformed_row"), (5, "malformed_row")]
    assert rejects[0].raw == '1,"Too expensive'


def test_binary_file_is_refused_clearly(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(b"PK\x03\x04\x00\x00" + bytes(range(256)) * 4)
    with pytest.raises(InputError, match="looks like binary data"):
        _collect(path)

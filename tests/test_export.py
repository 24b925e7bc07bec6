"""BI exports and the review loop, on DuckDB and PostgreSQL: columns follow the data contract."""
import csv
import json

import duckdb
import pyarrow.dataset as ds
import pytest

from pipeline.export import export_csv, export_parquet, export_sql, load_contract, month_of
from pipeline.review import export_review, import_review
from pipeline.store import open_store
from pipeline.store.jobs import tag_into_store
from tests.conftest import make_stand_in_tagger

FEEDBACK = """id,comment,Segment Name,submitted_at,annual_revenue_eur
c1,"Too expensive, switching to a cheaper plan.",smb,2026-01-15,1200
c2,"Nobody ever answered my emails.",enterprise,2026-02-03T10:00:00Z,54000
c3,"高すぎる。サポートも遅い。",smb,15.02.2026,300
c4,"=HYPERLINK(""http://x"") the app keeps crashing",consumer,,90
"""


@pytest.fixture
def filled_store(store_url, tmp_path, taxonomy):
    path = tmp_path / "feedback.csv"
    path.write_text(FEEDBACK, encoding="utf-8")
    store = open_store(store_url)
    tag_into_store(path, store, make_stand_in_tagger(taxonomy), text_column="comment")
    yield store
    store.close()


def _contract_columns(taxonomy, table: str) -> list[str]:
    spec = load_contract()["tables"][table]
    names = [c["name"] for c in spec["columns"]]
    if table == "wide":
        names += [t["name"].format(label=label) for label in taxonomy.ids for t in spec["per_label_columns"]]
    return names


def test_sql_export_has_the_contract_columns_and_a_bi_view(filled_store, taxonomy):
    result = export_sql(filled_store, taxonomy, date_column="submitted_at")
    export_sql(filled_store, taxonomy, date_column="submitted_at")  # re-export replaces, never duplicates
    db = filled_store.db
    wide_cols = [r[0] for r in db.query("SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                                        "ORDER BY ordinal_position", ["churnlens_wide"])]
    assert wide_cols == _contract_columns(taxonomy, "wide") + ["segment_name", "submitted_at", "annual_revenue_eur"]
    long_cols = [r[0] for r in db.query("SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                                        "ORDER BY ordinal_position", ["churnlens_long"])]
    assert long_cols == _contract_columns(taxonomy, "long")
    assert result.rows == 4
    assert db.query("SELECT count(*) FROM churnlens_wide")[0][0] == 4
    assert db.query("SELECT count(*) FROM churnlens_long")[0][0] == 4 * len(taxonomy.ids)
    months = dict(db.query("SELECT record_id, month FROM churnlens_wide"))
    assert months["c1"] == "2026-01" and months["c2"] == "2026-02" and months["c3"] == "2026-02"
    # every record appears in the view: once per assigned reason, or once as '(none)'
    per_record = dict(db.query("SELECT record_id, count(*) FROM churnlens_reasons GROUP BY record_id"))
    n_reasons = dict(db.query("SELECT record_id, n_reasons FROM churnlens_wide"))
    assert all(per_record[rid] == max(1, n) for rid, n in n_reasons.items())


def test_parquet_export_is_hive_partitioned_and_opens_in_duckdb(filled_store, taxonomy, tmp_path):
    out = tmp_path / "bi"
    result = export_parquet(filled_store, taxonomy, out, date_column="submitted_at")
    assert result.rows == 4
    assert (out / "month=2026-01" / "language=en").is_dir()
    table = ds.dataset(out, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 4
    count = duckdb.sql(f"SELECT count(*) FROM read_parquet('{out}/**/*.parquet', hive_partitioning = true)").fetchall()[0]
    assert count[0] == 4


def test_csv_export_is_excel_safe(filled_store, taxonomy, tmp_path):
    path = tmp_path / "bi.csv"
    export_csv(filled_store, taxonomy, path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = {r["record_id"]: r for r in csv.DictReader(raw.decode("utf-8-sig").splitlines())}
    assert rows["c3"]["text"] == "高すぎる。サポートも遅い。"
    assert rows["c4"]["text"].startswith("'=HYPERLINK")


def test_review_round_trip_corrections_win_in_exports(filled_store, taxonomy, tmp_path):
    review = tmp_path / "review.csv"
    n = export_review(filled_store, taxonomy, review, uncertain_only=False)
    assert n == 4
    with open(review, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    header = list(rows[0])
    for row in rows:
        if row["id"] == "c2":  # reviewer fixes c2 to responsiveness only
            for label in taxonomy.ids:
                row[label] = "1" if label == "responsiveness" else ""
            row["reviewer"] = "maria"
        if row["id"] == "c1":
            row["verdict"] = "ok"
    with open(review, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, header)
        writer.writeheader()
        writer.writerows(rows)
    result = import_review(filled_store, taxonomy, review, reviewer="team")
    assert (result.corrected, result.confirmed, result.untouched) == (
        1 if rows[1]["model_labels"] != "responsiveness" else 0, 1, 2 + (rows[1]["model_labels"] == "responsiveness"))
    export_sql(filled_store, taxonomy)
    got = dict(((rid, (src, reasons)) for rid, src, reasons in filled_store.db.query(
        "SELECT record_id, label_source, reasons FROM churnlens_wide")))
    assert got["c2"] == ("review", "responsiveness")
    assert got["c1"][0] == "review" and got["c3"][0] == "model"
    assert filled_store.history("c2")  # model history untouched
    assert {e["text"] for e in filled_store.corrected_examples()} >= {"Nobody ever answered my emails."}


def test_review_file_with_a_bad_mark_is_refused_with_its_row(filled_store, taxonomy, tmp_path):
    review = tmp_path / "review.csv"
    export_review(filled_store, taxonomy, review, uncertain_only=False)
    text = review.read_text(encoding="utf-8-sig").splitlines()
    cells = next(csv.reader([text[1]]))
    header = next(csv.reader([text[0]]))
    cells[header.index("price")] = "maybe"
    text[1] = ",".join(json.dumps(c, ensure_ascii=False) for c in cells)
    review.write_text("\n".join(text) + "\n", encoding="utf-8-sig")
    from pipeline.errors import InputError

    with pytest.raises(InputError, match="row 2, column 'price'"):
        import_review(filled_store, taxonomy, review)


@pytest.mark.parametrize("value,month", [("2026-03-09", "2026-03"), ("09.03.2026", "2026-03"),
                                         ("2026年3月9日", "2026-03"), ("not a date", None), ("", None)])
def test_month_of_common_date_formats(value, month):
    assert month_of(value, None) == month

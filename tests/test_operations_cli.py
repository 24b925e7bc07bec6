"""The operations commands as a user runs them: classify into a store, relabel, review, export."""
import csv

import duckdb
import pytest
from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()

FEEDBACK = """id,comment,segment,annual_revenue_eur,submitted_at
u1,"Far too expensive since the last price rise, cancelling.",smb,1200,2026-01-10
u2,"I called five times and nobody ever called me back.",enterprise,54000,2026-02-11
u3,"値段が高すぎるので解約します。",smb,300,2026-02-20
u4,"Moving abroad, nothing wrong with the service.",consumer,90,2026-03-01
u5,"",smb,10,2026-03-02
"""


@pytest.mark.slow
def test_classify_into_store_then_export_review_and_relabel(tagger, tmp_path, monkeypatch):
    monkeypatch.setattr("pipeline.tagging.Tagger.load", classmethod(lambda cls, *a, **k: tagger))
    src = tmp_path / "feedback.csv"
    src.write_text(FEEDBACK, encoding="utf-8")
    store = str(tmp_path / "results.duckdb")

    result = runner.invoke(app, ["classify", str(src), "--store", store, "-o", str(tmp_path / "out.parquet")])
    assert result.exit_code == 1, result.output  # one empty text was rejected
    assert "4 tagged, 1 rejected, 5 read" in " ".join(result.output.split())

    result = runner.invoke(app, ["relabel", "--store", store])
    assert result.exit_code == 0, result.output
    assert "0 re-labelled" in " ".join(result.output.split())  # same model and taxonomy: nothing to do

    result = runner.invoke(app, ["export", "--store", store, "--format", "sql", "--date-column", "submitted_at"])
    assert result.exit_code == 0, result.output
    con = duckdb.connect(store, read_only=True)
    reasons = dict(con.sql("SELECT record_id, reasons FROM churnlens_wide").fetchall())
    con.close()
    assert "price" in reasons["u1"] and "price" in reasons["u3"]
    assert reasons["u4"] == ""

    review = tmp_path / "review.csv"
    result = runner.invoke(app, ["review", "export", str(review), "--store", store, "--all"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(review.read_text(encoding="utf-8-sig").splitlines()))
    assert {r["id"] for r in rows} == {"u1", "u2", "u3", "u4"}

    result = runner.invoke(app, ["export", "--store", store, "-f", "parquet", "-o", str(tmp_path / "bi")])
    assert result.exit_code == 0, result.output
    assert list((tmp_path / "bi").glob("month=*/language=*/*.parquet"))

    result = runner.invoke(app, ["store", "--store", store])
    assert result.exit_code == 0 and "4 records" in " ".join(result.output.split())


def test_export_with_an_unknown_date_column_names_the_columns(tmp_path, taxonomy):
    from pipeline.store import open_store
    from pipeline.store.jobs import tag_into_store
    from tests.conftest import make_stand_in_tagger

    src = tmp_path / "feedback.csv"
    src.write_text(FEEDBACK, encoding="utf-8")
    store = str(tmp_path / "results.duckdb")
    with open_store(store) as results:
        tag_into_store(src, results, make_stand_in_tagger(taxonomy), text_column="comment")
    result = runner.invoke(app, ["export", "--store", store, "--date-column", "created"])
    assert result.exit_code == 2
    assert "submitted_at" in result.output and "created" in result.output

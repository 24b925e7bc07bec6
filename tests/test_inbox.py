"""Watched inbox folders and the schedule file of `churnlens serve`."""
import os
import time

import pytest

from pipeline.errors import ChurnlensError
from pipeline.inbox import process_inbox
from pipeline.schedule import load_schedule
from pipeline.store import open_store
from tests.conftest import make_stand_in_tagger


def _drop(folder, name, text, age=60):
    path = folder / name
    path.write_text(text, encoding="utf-8")
    old = time.time() - age
    os.utime(path, (old, old))
    return path


def test_inbox_tags_new_files_once_and_moves_them_aside(tmp_path, taxonomy):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _drop(inbox, "a.csv", "id,text\n1,too expensive\n2,nobody answers\n")
    _drop(inbox, "broken.csv", "id,other\n1,x\n")  # no text column
    _drop(inbox, "notes.txt", "not an input file")
    _drop(inbox, "fresh.csv", "id,text\n9,still being copied\n", age=-3600)  # just written
    tagger = make_stand_in_tagger(taxonomy)
    with open_store(tmp_path / "s.duckdb") as store:
        result = process_inbox(inbox, store, tagger, min_age_seconds=5)
        assert result.tagged_files == ["a.csv"] and result.tagged == 2
        assert list(result.failed_files) == ["broken.csv"]
        # the same content dropped again under another name is not tagged twice
        _drop(inbox, "a-copy.csv", "id,text\n1,too expensive\n2,nobody answers\n")
        again = process_inbox(inbox, store, tagger, min_age_seconds=5)
        assert again.duplicate_files == ["a-copy.csv"] and again.tagged_files == []
        assert store.counts()["records"] == 2
        assert [(r["source"].rsplit("/", 1)[-1], r["status"]) for r in store.runs()] == [
            ("a.csv", "completed"), ("broken.csv", "failed")]
    assert sorted(p.name for p in (inbox / "processed").rglob("*.csv")) == ["a-copy.csv", "a.csv"]
    errors = list((inbox / "failed").rglob("broken.csv.error.txt"))
    assert errors and "text column" in errors[0].read_text()
    assert (inbox / "notes.txt").exists() and (inbox / "fresh.csv").exists()


def test_schedule_file_is_validated_with_helpful_errors(tmp_path):
    good = tmp_path / "schedule.yaml"
    good.write_text("jobs:\n  - {name: nightly, inbox: in, store: results.duckdb, cron: '0 2 * * *'}\n")
    job = load_schedule(good).jobs[0]
    assert job.inbox == tmp_path / "in" and job.store == str(tmp_path / "results.duckdb")
    bad = tmp_path / "bad.yaml"
    bad.write_text("jobs:\n  - {name: nightly, inbox: in, store: s.duckdb}\n")
    with pytest.raises(ChurnlensError, match="exactly one of cron"):
        load_schedule(bad)
    bad.write_text("jobs:\n  - {name: n, inbox: in, store: s.duckdb, cron: '* * * * *', colour: red}\n")
    with pytest.raises(ChurnlensError, match="jobs.0.colour"):
        load_schedule(bad)

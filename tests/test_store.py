"""The results store on DuckDB and on a real PostgreSQL server: idempotence, history, migrations."""
import json

import pyarrow as pa
import pytest

from pipeline.store import open_store
from pipeline.store.database import StoreError, connect
from pipeline.store.jobs import relabel, tag_into_store
from pipeline.store.migrations import LATEST, migrate, schema_version
from tests.conftest import make_stand_in_tagger

FEEDBACK = """id,comment,segment,annual_revenue_eur
a1,"Too expensive, switching to a cheaper plan.",smb,1200
a2,"Nobody ever answered my emails.",enterprise,54000
a3,"高すぎる",smb,300
a4,"",smb,100
a5,"Der Router fällt ständig aus.",consumer,90
a1,"duplicate id",smb,1
"""


@pytest.fixture
def feedback(tmp_path):
    path = tmp_path / "feedback.csv"
    path.write_text(FEEDBACK, encoding="utf-8")
    return path


def test_tagging_the_same_file_twice_stores_each_record_once(store_url, feedback, taxonomy):
    tagger = make_stand_in_tagger(taxonomy)
    with open_store(store_url) as store:
        first = tag_into_store(feedback, store, tagger)
        second = tag_into_store(feedback, store, tagger)
        counts = store.counts()
    assert first.read == 6 and first.tagged == 4 and first.rejected == 2
    assert second.tagged == first.tagged
    assert counts["records"] == 4 and counts["labelings"] == 4
    assert counts["rejects"] == 4 and counts["runs"] == 2  # each run keeps its own rejects


def test_pass_through_columns_are_kept_as_attributes(store_url, feedback, taxonomy):
    with open_store(store_url) as store:
        tag_into_store(feedback, store, make_stand_in_tagger(taxonomy))
        rows = pa.concat_tables(store.current_records()).to_pylist()
    by_id = {r["id"]: r for r in rows}
    assert json.loads(by_id["a2"]["attributes"]) == {"segment": "enterprise", "annual_revenue_eur": "54000"}
    assert by_id["a3"]["text"] == "高すぎる"


def test_relabel_keeps_history_and_reports_flips(store_url, feedback, taxonomy, monkeypatch):
    monkeypatch.setenv("CHURNLENS_USER", "analyst@example.com")
    old, new = make_stand_in_tagger(taxonomy, "model-A", seed=1), make_stand_in_tagger(taxonomy, "model-B", seed=2)
    with open_store(store_url) as store:
        tag_into_store(feedback, store, old)
        report = relabel(store, new, batch_size=2)
        assert report.relabelled == 4 and report.failed == 0 and report.pending_before == 4
        assert relabel(store, new).relabelled == 0  # nothing left: idempotent
        histories = {rid: store.history(rid) for rid in ("a1", "a2", "a3", "a5")}
        current = {r["id"]: r for r in pa.concat_tables(store.current_records()).to_pylist()}
    assert [h["model_version"] for h in histories["a2"]] == ["model-A", "model-B"]
    assert histories["a2"][1]["labeled_by"] == "analyst@example.com"
    assert all(r["model_version"] == "model-B" for r in current.values())
    expected: dict[tuple[str, str], list[int]] = {}
    for rid, (old_row, new_row) in histories.items():
        lang = current[rid]["language"]
        for label in set(new_row["labels"]) - set(old_row["labels"]):
            expected.setdefault((label, lang), [0, 0])[0] += 1
        for label in set(old_row["labels"]) - set(new_row["labels"]):
            expected.setdefault((label, lang), [0, 0])[1] += 1
    assert report.changes == sorted((label, lang, a, r) for (label, lang), (a, r) in expected.items())
    assert report.changed_labels > 0  # two different random heads disagree somewhere


def test_interrupted_relabel_resumes_without_loss(store_url, tmp_path, taxonomy):
    lines = ["id,text"] + [f"r{i:04d},complaint number {i} about the price and the slow support" for i in range(300)]
    path = tmp_path / "many.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    new = make_stand_in_tagger(taxonomy, "model-B", seed=2)
    with open_store(store_url) as store:
        tag_into_store(path, store, make_stand_in_tagger(taxonomy, "model-A", seed=1))
        calls = {"n": 0}

        def crash_after_two_batches(_n):
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            relabel(store, new, batch_size=64, on_batch=crash_after_two_batches)
        assert store.count_pending("model-B", taxonomy.version) == 300 - 128
        resumed = relabel(store, new, batch_size=64)
        assert resumed.relabelled == 300 - 128
        assert store.count_pending("model-B", taxonomy.version) == 0
        counts = store.counts()
        statuses = [r["status"] for r in store.runs()]
    assert counts["records"] == 300 and counts["labelings"] == 600
    assert statuses == ["completed", "interrupted", "completed"]


def test_a_failing_batch_is_left_pending_not_lost(store_url, feedback, taxonomy, monkeypatch):
    new = make_stand_in_tagger(taxonomy, "model-B", seed=2)
    with open_store(store_url) as store:
        tag_into_store(feedback, store, make_stand_in_tagger(taxonomy, "model-A"))
        original = new.tag
        calls = {"n": 0}

        def fail_first(batch, languages=None):
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("encoder exploded")
            return original(batch, languages)

        monkeypatch.setattr(new, "tag", fail_first)
        report = relabel(store, new, batch_size=2)
        assert report.failed == 2 and report.relabelled == 2
        assert store.count_pending("model-B", taxonomy.version) == 2
        assert relabel(store, new).relabelled == 2


def test_corrections_win_and_become_training_examples(store_url, feedback, taxonomy):
    with open_store(store_url) as store:
        tag_into_store(feedback, store, make_stand_in_tagger(taxonomy))
        store.add_corrections([("a2", ["responsiveness"], "maria", "checked"), ("a3", ["price"], "ken", None)])
        rows = {r["id"]: r for r in pa.concat_tables(store.current_records()).to_pylist()}
        examples = store.corrected_examples()
        with pytest.raises(StoreError, match="not in the store"):
            store.add_corrections([("nope", ["price"], None, None)])
    assert json.loads(rows["a2"]["corrected_labels"]) == ["responsiveness"]
    assert rows["a1"]["corrected_labels"] is None
    assert {(e["text"], tuple(e["labels"])) for e in examples} == {
        ("Nobody ever answered my emails.", ("responsiveness",)), ("高すぎる", ("price",))}


def test_old_schema_is_migrated_keeping_data(store_url):
    db = connect(store_url)
    migrate(db, target=1)
    db.execute("INSERT INTO records (id, text, first_seen_at, last_seen_at) VALUES (?, ?, now(), now())", ["x", "old"])
    db.close()
    with open_store(store_url) as store:
        assert schema_version(store.db) == LATEST
        assert store.db.query("SELECT text FROM records WHERE id = ?", ["x"]) == [("old",)]
        assert store.counts()["corrections"] == 0


def test_values_never_become_sql(store_url, tmp_path, taxonomy):
    nasty = "x'); DROP TABLE records; --"
    path = tmp_path / "nasty.csv"
    path.write_text(f'id,text\n"{nasty}","{nasty} too expensive"\n', encoding="utf-8")
    with open_store(store_url) as store:
        tag_into_store(path, store, make_stand_in_tagger(taxonomy))
        assert store.known_ids([nasty]) == {nasty}
        assert store.counts()["records"] == 1


def test_unknown_store_url_is_a_clear_error():
    with pytest.raises(StoreError, match="postgresql://"):
        connect("mysql://somewhere/db")

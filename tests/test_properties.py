"""Property tests: nothing crashes on arbitrary input, and writers round-trip exactly."""
import csv
import json
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.classifier import ClassifierMeta, ReasonClassifier, build_head
from pipeline.errors import InputError
from pipeline.ingest import InputBatch, read_records
from pipeline.langid import detect_languages
from pipeline.records import build_tagged_table
from pipeline.tagging import Predictions, Tagger
from pipeline.writers import open_sink
from tests.conftest import hashed_embed

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(content=st.binary(max_size=2000), suffix=st.sampled_from([".csv", ".tsv", ".jsonl", ".parquet"]))
def test_ingest_never_crashes_on_arbitrary_bytes(tmp_path, content, suffix):
    path = tmp_path / f"in{suffix}"
    path.write_bytes(content)
    try:
        for batch in read_records(path, text_column=None):
            assert len(batch.ids) == len(batch.texts) == batch.passthrough.num_rows
    except InputError:
        pass  # a clear, user-facing refusal is fine; any other exception is a bug


@SETTINGS
@given(texts=st.lists(TEXT, min_size=1, max_size=5))
def test_language_detection_never_raises(texts):
    for name in ("lingua", "langdetect"):
        for code, confidence in detect_languages(texts, name):
            assert isinstance(code, str) and 0.0 <= confidence <= 1.0


def _tiny_tagger(taxonomy) -> Tagger:
    labels = list(taxonomy.ids)
    meta = ClassifierMeta(labels=labels, taxonomy_version=taxonomy.version, taxonomy_fingerprint=taxonomy.fingerprint(),
                          encoder="hashed", embedding_dim=64, hidden_dim=0, thresholds={label: 0.5 for label in labels})
    return Tagger(taxonomy, ReasonClassifier(build_head(64, 0, len(labels)), meta), hashed_embed)


@SETTINGS
@given(texts=st.lists(TEXT.filter(str.strip), min_size=1, max_size=4),
       lang=st.sampled_from(["ja", "da", "en", "ru", "fr", "zh", "no", "und"]))
def test_classification_never_raises(taxonomy, texts, lang):
    predictions = _tiny_tagger(taxonomy).predict(texts, [lang] * len(texts))
    assert predictions.scores.shape == (len(texts), len(taxonomy.ids))
    for text, evidence in zip(texts, predictions.evidence):
        for start, end, sentence in evidence.values():
            assert text[start:end] == sentence


def _unguard(cell: str) -> str:
    """CSV cells that Excel would evaluate as formulas are written with a leading quote."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(("=", "+", "-", "@", "\t", "\r")) else cell


@SETTINGS
@given(rows=st.lists(st.tuples(TEXT.filter(str.strip), st.lists(st.sampled_from(["price", "quality"]), unique=True)),
                     min_size=1, max_size=8),
       ext=st.sampled_from(["parquet", "csv", "jsonl"]))
def test_writers_round_trip_ids_text_labels(tmp_path, rows, ext):
    ids = [f"id-{i}" for i in range(len(rows))]
    texts = [text for text, _ in rows]
    labels = [label_list for _, label_list in rows]
    batch = InputBatch(ids=ids, texts=texts, row_numbers=list(range(1, len(rows) + 1)), passthrough=pa.table({"k": ids}))
    predictions = Predictions(["price", "quality"], np.zeros((len(rows), 2)), labels, [False] * len(rows),
                              [{} for _ in rows])
    table = build_tagged_table(batch, [("en", 1.0)] * len(rows), predictions, model_version="m", taxonomy_version="1",
                               processed_at=datetime(2026, 1, 1, tzinfo=timezone.utc))
    path = tmp_path / f"out.{ext}"
    with open_sink(path) as sink:
        sink.write(table)
    if ext == "parquet":
        back = pq.read_table(path).to_pylist()
        got = [(r["id"], r["text"], r["labels"]) for r in back]
    elif ext == "csv":
        with open(path, encoding="utf-8-sig", newline="") as fh:
            got = [(r["id"], _unguard(r["text"]), json.loads(r["labels"])) for r in csv.DictReader(fh)]
    else:
        got = [(r["id"], r["text"], r["labels"]) for r in map(json.loads, path.read_text(encoding="utf-8").rstrip("\n").split("\n"))]
    assert got == list(zip(ids, texts, labels))

"""The committed model on the real encoder: what a user sees from `churnlens classify`."""
import csv
import json

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.run import classify_file

CLEAR = [
    ("en", "Way too expensive, your competitor charges half the price.", {"price"}),
    ("ja", "商品が届いてすぐに壊れました。品質が悪すぎます。", {"quality"}),
    ("da", "Jeg har ringet fem gange og ventet over en time i telefonkøen hver gang. Der er aldrig nogen, der svarer.",
     {"responsiveness"}),
    ("ru", "Мы переезжаем в другой город, поэтому расторгаем договор. Всё было отлично.", set()),
    ("fr", "Le technicien devait venir mardi comme promis, il n'est jamais venu.", {"broken_promise"}),
]


@pytest.fixture(scope="module")
def feedback_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("in") / "feedback.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ref", "comment", "segment"])
        for i, (_, text, _) in enumerate(CLEAR):
            writer.writerow([f"R{i}", text, "SMB"])
        writer.writerow(["R9", "   ", "SMB"])
    return path


def test_classify_writes_complete_records(tagger, feedback_csv, tmp_path):
    out = tmp_path / "tagged.parquet"
    summary = classify_file(feedback_csv, out, tagger, text_column="comment", id_column="ref")
    assert (summary.read, summary.tagged, summary.rejected) == (6, 5, 1) and summary.reconciles
    rows = pq.read_table(out).to_pylist()
    assert [r["id"] for r in rows] == ["R0", "R1", "R2", "R3", "R4"]
    assert [r["language"] for r in rows] == [lang for lang, _, _ in CLEAR]
    for row, (_, _, expected) in zip(rows, CLEAR):
        assert set(row["labels"]) == expected, (row["text"], dict(row["scores"]))
        assert set(dict(row["scores"])) == set(tagger.classifier.labels)
        assert row["primary_label"] == (row["labels"][0] if row["labels"] else None)
        assert row["model_version"] == tagger.model_version and row["taxonomy_version"] == "1.0"
        assert row["segment"] == "SMB" and row["processed_at"] is not None
    rejects = pq.read_table(tmp_path / "tagged.rejects.parquet").to_pylist()
    assert [(r["id"], r["reason"]) for r in rejects] == [("R9", "empty_text")]


def test_reason_in_the_last_paragraph_is_found(tagger):
    story = ("I have been a customer since 2015 and mostly things were fine. We moved house twice, the kids grew up, "
             "the dog got old, and through all of it the broadband just worked. I used to recommend you to friends "
             "and I even convinced my brother to sign up last year. This spring we renovated the kitchen and for a "
             "while I worked from the garden shed, which is another story entirely. ") * 2
    story += "But the monthly price has now gone up for the third time this year, so I am cancelling."
    predictions = tagger.predict([story], ["en"])
    assert "price" in predictions.labels[0]
    start, end, sentence = predictions.evidence[0]["price"]
    assert "price has now gone up" in sentence and story[start:end] == sentence


def test_reason_past_the_encoder_token_limit_is_found(tagger):
    story = ("We have had the contract for years. The installer was polite, the router sat in the hallway and "
             "the children streamed their films without trouble. Nothing much to report about any of it. ") * 14
    story += "But the monthly price has now gone up for the third time this year, so I am cancelling."
    assert len(tagger.embed.__self__.tokenizer(story)["input_ids"]) > 512
    predictions = tagger.predict([story], ["en"])
    assert "price" in predictions.labels[0]
    assert "price has now gone up" in predictions.evidence[0]["price"][2]


def test_evidence_points_at_the_supporting_sentence(tagger):
    text = ("Bonjour, je vous écris au sujet de mon contrat. Le technicien devait venir mardi et n'est jamais venu. "
            "Par ailleurs, votre application plante à chaque ouverture.")
    predictions = tagger.predict([text], ["fr"])
    evidence = predictions.evidence[0]
    assert set(evidence) == set(predictions.labels[0])
    for label, (start, end, sentence) in evidence.items():
        assert text[start:end] == sentence
    if "broken_promise" in evidence:
        assert "technicien" in evidence["broken_promise"][2]
    if "quality" in evidence:
        assert "application plante" in evidence["quality"][2]
    assert "broken_promise" in evidence or "quality" in evidence


def test_evidence_modes_change_only_the_evidence(tagger):
    from pipeline.sentences import sentence_spans
    from pipeline.tagging import Tagger

    text = ("J'ai payé 89 € de plus ce mois-ci sans explication. Le technicien devait venir mardi et n'est jamais "
            "venu. Par ailleurs, votre application plante à chaque ouverture. Bref, je pars.")
    checked = tagger.predict([text], ["fr"])
    fast = Tagger.load(evidence="fast").predict([text], ["fr"])
    off = Tagger.load(evidence="off").predict([text], ["fr"])
    assert fast.labels == checked.labels == off.labels and checked.labels[0]
    sentences = set(sentence_spans(text, "fr"))
    assert set(fast.evidence[0]) == set(checked.labels[0]) and off.evidence == [{}]
    assert all((start, end) in sentences for start, end, _ in fast.evidence[0].values())


def test_cli_classify_and_evaluate(tagger, feedback_csv, tmp_path):
    runner = CliRunner()
    out = tmp_path / "tagged.csv"
    result = runner.invoke(app, ["classify", str(feedback_csv), "--output", str(out), "--text-column", "comment",
                                 "--id-column", "ref"])
    assert result.exit_code == 1, result.output  # 1: something was rejected
    assert "5 tagged, 1 rejected, 6 read" in result.output
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")

    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps({"text": t, "labels": sorted(l), "lang": lang}, ensure_ascii=False) + "\n"
                            for lang, t, l in CLEAR), encoding="utf-8")
    result = runner.invoke(app, ["evaluate", str(gold), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["all"]["texts"] == 5 and set(report) >= {"all", "en", "ja", "da", "ru", "fr"}
    assert report["all"]["micro"]["f1"] > 0.5


def test_cli_missing_column_lists_columns(feedback_csv, tmp_path):
    result = CliRunner().invoke(app, ["classify", str(feedback_csv), "-o", str(tmp_path / "o.csv"),
                                      "--text-column", "body"])
    assert result.exit_code == 2
    assert "columns: ref, comment, segment" in " ".join(result.output.split())


def test_redaction_before_storage_keeps_classification(tagger, tmp_path):
    path = tmp_path / "pii.csv"
    path.write_text(
        "id,comment\n"
        "1,\"Way too expensive at 49,99 € a month. Call me on +33 6 12 34 56 78 or mail paul@exemple.fr\"\n"
        "1,\"duplicate row with IBAN FR76 3000 6000 0112 3456 7890 189\"\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    summary = classify_file(path, out, tagger, redact=True)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["text"] == "Way too expensive at 49,99 € a month. Call me on [PHONE] or mail [EMAIL]"
    assert "price" in rows[0]["labels"]
    rejects = [json.loads(line) for line in (tmp_path / "out.rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    assert "[IBAN]" in rejects[0]["raw"] and "FR76" not in rejects[0]["raw"]
    assert summary.reconciles


def test_jsonl_with_varying_keys_keeps_every_column(tagger, tmp_path):
    path = tmp_path / "in.jsonl"
    lines = [{"id": "a", "text": "Too expensive.", "plan": "basic"}, {"id": "b", "text": "App crashes.", "store": "ios"}]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    out = tmp_path / "out.parquet"
    classify_file(path, out, tagger, batch_size=1)
    rows = pq.read_table(out).to_pylist()
    assert [(r["plan"], r["store"]) for r in rows] == [("basic", None), (None, "ios")]

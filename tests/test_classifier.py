import numpy as np
import pytest
import yaml

from models.classifier import ClassifierMeta, ReasonClassifier
from models.corpus import Example
from models.train import TrainingSettings, fit_head, label_matrix, tune_thresholds
from pipeline.errors import ModelMismatchError
from pipeline.taxonomy import load_taxonomy
from tests.conftest import LABELS, hashed_embed

TRAIN = [
    Example("far too expensive", ("price",)), Example("the price went up again", ("price",)),
    Example("cheaper elsewhere", ("price",)), Example("the app keeps crashing", ("quality",)),
    Example("broken on arrival", ("quality",)), Example("nobody answers the phone", ("responsiveness",)),
    Example("waited on hold for hours", ("responsiveness",)), Example("promised refund never came", ("broken_promise",)),
    Example("they promised a callback", ("broken_promise",)), Example("complained twice, still unresolved", ("unresolved_complaint",)),
    Example("my complaint was closed unfixed", ("unresolved_complaint",)), Example("moving abroad", ()),
    Example("too expensive and the app keeps crashing", ("price", "quality")),
]


@pytest.fixture(scope="module")
def tiny_classifier(taxonomy):
    labels = list(taxonomy.ids)
    head = fit_head(hashed_embed([e.text for e in TRAIN]), label_matrix(TRAIN, labels),
                    TrainingSettings(hidden_dim=32, epochs=150, learning_rate=1e-2))
    meta = ClassifierMeta(labels=labels, taxonomy_version=taxonomy.version, taxonomy_fingerprint=taxonomy.fingerprint(),
                          encoder="test-encoder", embedding_dim=64, hidden_dim=32,
                          thresholds={label: 0.5 for label in labels}, calibration={label: [1.5, -0.2] for label in labels})
    return ReasonClassifier(head, meta)


def test_training_learns_the_training_texts(tiny_classifier):
    labels = tiny_classifier.assign(tiny_classifier.scores(hashed_embed([e.text for e in TRAIN])))
    correct = sum(set(pred) == set(ex.labels) for pred, ex in zip(labels, TRAIN))
    assert correct >= len(TRAIN) - 1


def test_save_load_round_trip_gives_identical_scores(tiny_classifier, tmp_path):
    tiny_classifier.save(tmp_path / "model")
    loaded = ReasonClassifier.load(tmp_path / "model")
    x = hashed_embed(["some new text about prices", "ストレス", ""])
    np.testing.assert_array_equal(loaded.scores(x), tiny_classifier.scores(x))
    assert loaded.meta.thresholds == tiny_classifier.meta.thresholds
    assert loaded.meta.encoder == "test-encoder"
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["classifier.json", "head.safetensors"]


def _taxonomy_with(tmp_path, edit):
    data = yaml.safe_load(LABELS.read_text(encoding="utf-8"))
    edit(data["labels"])
    path = tmp_path / "labels.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_taxonomy(path)


def test_removed_label_is_refused_with_advice(tiny_classifier, tmp_path):
    taxonomy = _taxonomy_with(tmp_path, lambda labels: labels.pop(1))
    with pytest.raises(ModelMismatchError, match=r"predicts quality, which labels.yaml 1.0 no longer has.*churnlens train"):
        tiny_classifier.check_compatible(taxonomy)


def test_redefined_label_is_refused(tiny_classifier, tmp_path):
    taxonomy = _taxonomy_with(tmp_path, lambda labels: labels[0].update(description="Anything about money at all."))
    with pytest.raises(ModelMismatchError, match="definitions of the trained labels changed"):
        tiny_classifier.check_compatible(taxonomy)


def test_added_label_is_reported_as_new(tiny_classifier, tmp_path):
    taxonomy = _taxonomy_with(tmp_path, lambda labels: labels.append(dict(labels[0], id="competitor_offer")))
    assert tiny_classifier.check_compatible(taxonomy) == ["competitor_offer"]


def test_wrong_encoder_is_refused(tiny_classifier, taxonomy):
    with pytest.raises(ModelMismatchError, match="trained on encoder 'test-encoder'"):
        tiny_classifier.check_compatible(taxonomy, "some/other-encoder")


def test_unknown_label_in_training_data(taxonomy):
    with pytest.raises(ValueError, match="label 'weather'"):
        label_matrix([Example("it rained", ("weather",))], list(taxonomy.ids))


def test_thresholds_maximise_f1():
    scores = np.array([[0.9], [0.7], [0.35], [0.2], [0.1]])
    gold = np.array([[1], [1], [1], [0], [0]], dtype=np.float32)
    t = tune_thresholds(scores, gold, ["price"])["price"]
    assert 0.2 < t <= 0.35


def test_settings_are_validated():
    with pytest.raises(ValueError, match="learning_rate"):
        TrainingSettings(learning_rate=5)


def test_resaving_a_loaded_model_keeps_its_adapter(tiny_classifier, tmp_path):
    import torch

    adapter_state = {"base_model.model.encoder.layer.0.attention.self.query.lora_A.weight": torch.zeros(2, 4)}
    ReasonClassifier(tiny_classifier.head, tiny_classifier.meta, ({"r": 2}, adapter_state)).save(tmp_path / "a")
    loaded = ReasonClassifier.load(tmp_path / "a")
    assert loaded.adapter is None and loaded.adapter_path is not None
    loaded.save(tmp_path / "a")  # e.g. after recalibration
    loaded.save(tmp_path / "b")  # or into a new directory
    for name in ("a", "b"):
        assert (tmp_path / name / "adapter.safetensors").exists() and (tmp_path / name / "adapter.json").exists()

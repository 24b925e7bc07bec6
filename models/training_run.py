"""``churnlens train``: corpus → (LoRA fine-tuning or frozen encoder) + head → calibration → evaluation → save."""
from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

import numpy as np

from models.classifier import ClassifierMeta, ReasonClassifier, build_head
from models.corpus import (SPLITS_DIR, Example, data_hash, frozen_assignment, load_raw_corpus, split_corpus,
                           write_splits)
from models.train import TrainingSettings, fit_head, fit_platt, half_best_f1_thresholds, label_matrix

log = logging.getLogger(__name__)
METHODS = ("lora", "frozen")
PROTOTYPE_BACKGROUND = 150


def taxonomy_examples(taxonomy) -> list[Example]:
    """The examples in labels.yaml as training texts (the only data a newly added label has)."""
    return [Example(text, (label.id,), None) for label in taxonomy.labels for text in label.examples]


def _fresh_encoder(name: str):
    from models.encoder.load import Encoder, resolve_encoder

    return Encoder.from_directory(resolve_encoder(name), name=name)


def run_training(data_dir, output_dir, labels_path, encoder_name: str, method: str = "lora",
                 epochs: int | None = None, limit: int = 0, extra_examples: list[Example] | None = None,
                 write_card: bool = True) -> dict:
    """Train, calibrate, evaluate on the test split and save a classifier into ``output_dir``."""
    from models.augment import in_neutral_context
    from models.finetune import FinetuneSettings, finetune, settings_dict
    from models.prototypes import fit_prototype_calibration
    from pipeline.taxonomy import load_taxonomy

    if method not in METHODS:
        raise ValueError(f"unknown training method {method!r}; choose one of {', '.join(METHODS)}")
    started = time.perf_counter()
    taxonomy = load_taxonomy(labels_path)
    labels = list(taxonomy.ids)
    corpus = load_raw_corpus(Path(data_dir))
    if not corpus:
        raise FileNotFoundError(f"no labelled *.jsonl files in {data_dir}")
    bundled = Path(data_dir).resolve() == (SPLITS_DIR.parent / "raw").resolve()
    splits = split_corpus(corpus, frozen_assignment() if bundled else None)
    if bundled:
        write_splits(splits)
    train = (splits["train"][:limit] if limit else splits["train"]) + taxonomy_examples(taxonomy) + list(extra_examples or [])
    validation = splits["validation"]
    encoder = _fresh_encoder(encoder_name)
    adapter = None
    if method == "lora":
        settings = FinetuneSettings(**({"epochs": epochs} if epochs else {}))
        train += in_neutral_context(train, settings.context_examples, settings.seed)
        head = build_head(encoder.dim, 0, len(labels))
        config, state = finetune(encoder, [e.text for e in train], label_matrix(train, labels), head, settings)
        adapter, hidden_dim, hyper = (config, state), 0, settings_dict(settings)
    else:
        settings = TrainingSettings(**({"epochs": epochs} if epochs else {}))
        head = fit_head(encoder.embed([e.text for e in train]), label_matrix(train, labels), settings)
        hidden_dim, hyper = settings.hidden_dim, vars(settings)
    meta = ClassifierMeta(
        labels=labels, taxonomy_version=taxonomy.version, taxonomy_fingerprint=taxonomy.fingerprint(),
        encoder=encoder_name, embedding_dim=encoder.dim, hidden_dim=hidden_dim,
        thresholds={label: 0.5 for label in labels}, training_data_sha256=data_hash(train + validation),
    )
    classifier = ReasonClassifier(head.eval(), meta, adapter)
    calibrate(classifier, taxonomy, encoder, validation)
    meta.prototype_background = [e.text for e in splits["train"] if not e.labels][:PROTOTYPE_BACKGROUND]
    base = _fresh_encoder(encoder_name) if adapter else encoder  # new labels are scored in the base space
    meta.prototype_calibration, meta.prototype_threshold = fit_prototype_calibration(
        base.embed([e.text for e in validation]), label_matrix(validation, labels),
        [base.embed(list(taxonomy[label].examples)) for label in labels], base.embed(meta.prototype_background))
    del base
    weights = b"".join(v.detach().numpy().tobytes() for v in head.state_dict().values())
    if adapter:
        weights += b"".join(v.numpy().tobytes() for v in adapter[1].values())
    meta.model_version = f"{taxonomy.version}-{method}-{hashlib.sha256(weights).hexdigest()[:10]}"
    meta.metrics = {"method": method, "hyperparameters": hyper, "train_texts": len(train),
                    "validation_texts": len(validation), "training_seconds": round(time.perf_counter() - started)}
    report = evaluate_and_save(classifier, taxonomy, encoder, corpus, splits, output_dir, write_card)
    log.info("trained %s in %.0f s", meta.model_version, time.perf_counter() - started)
    return {"macro_f1": report["all"]["macro"]["f1"], "report": report, "model_version": meta.model_version}


def _scorer(classifier, taxonomy, encoder):
    """A Tagger without evidence that scores exactly as inference does (one pass, pooled windows)."""
    from pipeline.tagging import Tagger

    return Tagger(taxonomy, classifier, encoder.embed, evidence=False, embed_spans=encoder.embed_spans)


def calibrate(classifier, taxonomy, encoder, validation: list[Example]) -> None:
    """Platt scaling and thresholds from validation scores made exactly as at inference
    (long texts: maximum over sentence windows, pooled from the same pass)."""
    labels = classifier.labels
    y_val = label_matrix(validation, labels)
    classifier.meta.calibration = {}
    scores = _scorer(classifier, taxonomy, encoder).predict(
        [e.text for e in validation], [e.lang or "xx" for e in validation]).scores
    raw = np.clip(scores, 1e-6, 1 - 1e-6)
    logits = np.log(raw / (1 - raw))
    classifier.meta.calibration = fit_platt(logits, y_val, labels)
    platt = np.array([classifier.meta.calibration[label] for label in labels])
    calibrated = 1 / (1 + np.exp(-(logits * platt[:, 0] + platt[:, 1])))
    classifier.meta.thresholds = half_best_f1_thresholds(calibrated, y_val, labels)


def evaluate_and_save(classifier, taxonomy, encoder, corpus, splits, output_dir, write_card: bool = True) -> dict:
    """Score the test split with the finished classifier, record metrics, save it and its model card."""
    from pipeline.evaluate import evaluate_predictions, report_as_dict

    test = splits["test"]
    predictions = _scorer(classifier, taxonomy, encoder).predict(
        [e.text for e in test], [e.lang or "xx" for e in test])
    report = report_as_dict(evaluate_predictions([set(e.labels) for e in test], [set(p) for p in predictions.labels],
                                                 [e.lang for e in test], classifier.labels))
    y_test = label_matrix(test, classifier.labels)
    classifier.meta.metrics.update({"test": report, "reliability": reliability(predictions.scores, y_test)})
    classifier.save(output_dir)
    if write_card:
        from models.model_card import write_model_card

        write_model_card(Path(output_dir), classifier, corpus, splits, predictions.scores, y_test)
    return report


def recalibrate(model_dir, labels_path, data_dir) -> dict:
    """``churnlens calibrate``: refit calibration and thresholds of a saved model on the validation split."""
    from models.classifier import ReasonClassifier
    from models.encoder import load_encoder
    from pipeline.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(labels_path)
    classifier = ReasonClassifier.load(model_dir)
    classifier.check_compatible(taxonomy)
    encoder = load_encoder(classifier.meta.encoder, adapter=classifier.adapter_path)
    corpus = load_raw_corpus(Path(data_dir))
    bundled = Path(data_dir).resolve() == (SPLITS_DIR.parent / "raw").resolve()
    splits = split_corpus(corpus, frozen_assignment() if bundled else None)
    calibrate(classifier, taxonomy, encoder, splits["validation"])
    return evaluate_and_save(classifier, taxonomy, encoder, corpus, splits, model_dir)


def reliability(scores: np.ndarray, y: np.ndarray, bins: int = 10) -> dict:
    """Expected calibration error and per-bin (mean score, observed frequency, count), labels pooled."""
    s, t = scores.reshape(-1), y.reshape(-1)
    edges = np.linspace(0, 1, bins + 1)
    table, ece = [], 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (s >= lo) & ((s < hi) if hi < 1 else (s <= hi))
        if inside.any():
            mean, freq = float(s[inside].mean()), float(t[inside].mean())
            ece += inside.sum() / len(s) * abs(mean - freq)
            table.append([round(mean, 3), round(freq, 3), int(inside.sum())])
    return {"ece": round(float(ece), 4), "bins": table}

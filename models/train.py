"""Train the departure-reason head on frozen encoder embeddings, and tune per-label thresholds."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from models.classifier import ClassifierMeta, ReasonClassifier, build_head
from models.corpus import Example, data_hash

log = logging.getLogger(__name__)
THRESHOLD_GRID = np.round(np.arange(0.10, 0.91, 0.025), 3)


@dataclass
class TrainingSettings:
    """Hyper-parameters of ``churnlens train``; validated on creation."""

    hidden_dim: int = 512
    epochs: int = 300
    learning_rate: float = 2e-3
    weight_decay: float = 1e-2
    batch_size: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        if self.hidden_dim < 0 or self.epochs < 1 or self.batch_size < 1:
            raise ValueError("hidden_dim must be >= 0, epochs and batch_size >= 1")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"learning_rate {self.learning_rate} out of range (0, 1)")


def label_matrix(examples: list[Example], labels: list[str]) -> np.ndarray:
    index = {label: i for i, label in enumerate(labels)}
    y = np.zeros((len(examples), len(labels)), dtype=np.float32)
    for row, ex in enumerate(examples):
        for label in ex.labels:
            if label not in index:
                raise ValueError(f"training example uses label {label!r}, not in labels.yaml: {ex.text[:60]!r}")
            y[row, index[label]] = 1.0
    return y


def fit_head(x: np.ndarray, y: np.ndarray, settings: TrainingSettings):
    """Full-batch-epoch AdamW on BCE; returns the trained torch module."""
    import torch

    torch.manual_seed(settings.seed)
    head = build_head(x.shape[1], settings.hidden_dim, y.shape[1])
    optimiser = torch.optim.AdamW(head.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    positives = yt.sum(0).clamp(min=1)
    pos_weight = ((len(yt) - positives) / positives).clamp(max=4.0).sqrt()
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    generator = torch.Generator().manual_seed(settings.seed)
    head.train()
    for _ in range(settings.epochs):
        order = torch.randperm(len(xt), generator=generator)
        for start in range(0, len(order), settings.batch_size):
            idx = order[start : start + settings.batch_size]
            optimiser.zero_grad()
            loss = loss_fn(head(xt[idx]), yt[idx])
            loss.backward()
            optimiser.step()
    return head.eval()


def tune_thresholds(scores: np.ndarray, y: np.ndarray, labels: list[str]) -> dict[str, float]:
    """Per label, the threshold that maximises F1 on validation data (0.5 if the label is absent)."""
    thresholds = {}
    for j, label in enumerate(labels):
        if y[:, j].sum() == 0:
            thresholds[label] = 0.5
            continue
        best_f1, best_t = -1.0, 0.5
        for t in THRESHOLD_GRID:
            pred = scores[:, j] >= t
            tp = float((pred & (y[:, j] == 1)).sum())
            f1 = 2 * tp / max(pred.sum() + y[:, j].sum(), 1)
            if f1 > best_f1 + 1e-9 or (abs(f1 - best_f1) <= 1e-9 and abs(t - 0.5) < abs(best_t - 0.5)):
                best_f1, best_t = f1, float(t)
        thresholds[label] = best_t
    return thresholds


def train_classifier(train: list[Example], validation: list[Example], taxonomy, embed, encoder_name: str,
                     settings: TrainingSettings | None = None, model_version: str = "dev") -> ReasonClassifier:
    """Train a head on ``embed(texts)`` of ``train``; tune thresholds on ``validation``."""
    settings = settings or TrainingSettings()
    labels = list(taxonomy.ids)
    x_train, y_train = embed([e.text for e in train]), label_matrix(train, labels)
    log.info("training head on %d texts, %d labels", len(train), len(labels))
    head = fit_head(x_train, y_train, settings)
    meta = ClassifierMeta(
        labels=labels, taxonomy_version=taxonomy.version, taxonomy_fingerprint=taxonomy.fingerprint(),
        encoder=encoder_name, embedding_dim=int(x_train.shape[1]), hidden_dim=settings.hidden_dim,
        thresholds={label: 0.5 for label in labels}, training_data_sha256=data_hash(train + validation),
        model_version=model_version,
    )
    classifier = ReasonClassifier(head, meta)
    if validation:
        val_scores = classifier.scores(embed([e.text for e in validation]))
        meta.thresholds = tune_thresholds(val_scores, label_matrix(validation, labels), labels)
    return classifier


def run_training(data_dir, output_dir, labels_path, encoder_name: str, epochs: int = 300, hidden_dim: int = 512,
                 limit: int = 0) -> dict:
    """``churnlens train``: split the corpus, train, evaluate on the test split, save with metrics."""
    import hashlib
    from pathlib import Path

    from models.corpus import SPLITS_DIR, load_raw_corpus, split_corpus, write_splits
    from models.encoder import load_encoder
    from pipeline.evaluate import evaluate_predictions, report_as_dict
    from pipeline.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(labels_path)
    examples = load_raw_corpus(Path(data_dir))
    if not examples:
        raise FileNotFoundError(f"no labelled *.jsonl files in {data_dir}")
    splits = split_corpus(examples)
    if Path(data_dir).resolve() == (SPLITS_DIR.parent / "raw").resolve():
        write_splits(splits)
    train_set = splits["train"][:limit] if limit else splits["train"]
    encoder = load_encoder(encoder_name)
    cache: dict[str, np.ndarray] = {}

    def embed(texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        if missing:
            cache.update(zip(missing, encoder.embed(missing)))
        return np.stack([cache[t] for t in texts]) if texts else np.zeros((0, encoder.dim), np.float32)

    settings = TrainingSettings(hidden_dim=hidden_dim, epochs=epochs)
    classifier = train_classifier(train_set, splits["validation"], taxonomy, embed, encoder_name, settings)
    weights = b"".join(v.detach().numpy().tobytes() for v in classifier.head.state_dict().values())
    classifier.meta.model_version = f"{taxonomy.version}-{hashlib.sha256(weights).hexdigest()[:10]}"
    from pipeline.tagging import Tagger

    tagger = Tagger(taxonomy, classifier, embed)
    test = splits["test"]
    _, predicted = tagger.predict([e.text for e in test])
    report = evaluate_predictions([set(e.labels) for e in test], [set(p) for p in predicted],
                                  [e.lang for e in test], list(taxonomy.ids))
    classifier.meta.metrics = {"test": {g: {"texts": r.texts, "macro_f1": round(r.scores["macro"].f1, 4),
                                            "micro_f1": round(r.scores["micro"].f1, 4)} for g, r in report.items()},
                               "train_texts": len(train_set), "validation_texts": len(splits["validation"])}
    classifier.save(output_dir)
    return {"macro_f1": report["all"].scores["macro"].f1, "report": report_as_dict(report)}

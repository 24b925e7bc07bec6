"""Train the departure-reason head on frozen encoder embeddings, and tune per-label thresholds."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from models.classifier import build_head
from models.corpus import Example

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


def half_best_f1_thresholds(scores: np.ndarray, y: np.ndarray, labels: list[str]) -> dict[str, float]:
    """For calibrated probabilities the F1-optimal threshold is half the best achievable F1
    (Lipton et al., 2014): a rule with one stable estimate per label, less prone to fit the
    validation split's noise than the arg-max threshold itself."""
    best = {}
    for j, label in enumerate(labels):
        f1s = [2 * float(((scores[:, j] >= t) & (y[:, j] == 1)).sum()) / max((scores[:, j] >= t).sum() + y[:, j].sum(), 1)
               for t in THRESHOLD_GRID]
        best[label] = round(max(f1s) / 2, 3) if y[:, j].sum() else 0.5
    return best


def fit_platt(logits: np.ndarray, y: np.ndarray, labels: list[str]) -> dict[str, list[float]]:
    """Per-label Platt scaling (slope, intercept on the logit), fitted on validation data."""
    from sklearn.linear_model import LogisticRegression

    calibration = {}
    for j, label in enumerate(labels):
        if 0 < y[:, j].sum() < len(y):
            fit = LogisticRegression(C=10.0).fit(logits[:, j : j + 1], y[:, j].astype(int))
            calibration[label] = [float(fit.coef_[0, 0]), float(fit.intercept_[0])]
        else:
            calibration[label] = [1.0, 0.0]
    return calibration

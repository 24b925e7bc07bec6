"""Score labels the classifier was not trained on, from the examples given in labels.yaml.

The score is a margin in the *base* encoder's space (not the fine-tuned one, which only knows the
trained labels): how much closer a text is to the new label's examples than to a background of the
other labels' examples and of texts with no label. A logistic curve, fitted at training time by
treating each trained label in turn as if it were new, turns the margin into a probability.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

Embed = Callable[[list[str]], np.ndarray]


def _max_cosine(x: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    return (x @ anchors.T).max(axis=1) if len(anchors) else np.zeros(len(x), dtype=np.float32)


def margins(x: np.ndarray, positives: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Nearest-positive minus nearest-background cosine, per row of ``x``."""
    return _max_cosine(x, positives) - _max_cosine(x, background)


class PrototypeScorer:
    """Nearest-example scoring for labels that only have examples in labels.yaml."""

    def __init__(self, examples: dict[str, list[str]], new_labels: list[str], background: list[str], embed: Embed,
                 calibration: list[float]) -> None:
        """``examples``: every label's examples (the others serve as background); ``new_labels`` are scored."""
        self.labels = list(new_labels)
        self.embed = embed
        self._positives = {label: embed(list(texts)) for label, texts in examples.items()}
        self._background = embed(list(background)) if background else np.zeros((0, 1), np.float32)
        self.slope, self.intercept = calibration

    def scores_for_texts(self, texts: list[str]) -> np.ndarray:
        """Probability per prototype label, shape ``(len(texts), n_prototype_labels)``."""
        return self.scores_for_embeddings(self.embed(texts))

    def scores_for_embeddings(self, x: np.ndarray) -> np.ndarray:
        """The same for texts already embedded by the base encoder, ``x`` of shape ``(n, dim)``."""
        columns = []
        for label in self.labels:
            others = [v for other, v in self._positives.items() if other != label]
            background = np.vstack([self._background, *others]) if others or len(self._background) else self._background
            columns.append(margins(x, self._positives[label], background))
        m = np.stack(columns, axis=1) if columns else np.zeros((len(x), 0), np.float32)
        return 1.0 / (1.0 + np.exp(-(self.slope * m + self.intercept)))


def fit_prototype_calibration(x: np.ndarray, y: np.ndarray, label_examples: list[np.ndarray],
                              background: np.ndarray) -> tuple[list[float], float]:
    """Logistic fit of label presence on the margin, each known label treated as if it were new;
    and the probability threshold that maximises F0.5 over them (a wrong new tag costs more than a missed one)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import fbeta_score

    features, targets = [], []
    for j, positives in enumerate(label_examples):
        others = [e for k, e in enumerate(label_examples) if k != j]
        features.append(margins(x, positives, np.vstack([background, *others])))
        targets.append(y[:, j])
    m, t = np.concatenate(features).reshape(-1, 1), np.concatenate(targets).astype(int)
    fit = LogisticRegression(C=100.0).fit(m, t)
    p = fit.predict_proba(m)[:, 1]
    grid = np.round(np.arange(0.1, 0.91, 0.025), 3)
    threshold = float(max(grid, key=lambda th: fbeta_score(t, p >= th, beta=0.5, zero_division=0)))
    return [float(fit.coef_[0, 0]), float(fit.intercept_[0])], threshold

"""Score labels the classifier was not trained on, from the examples given in labels.yaml.

A text's score for such a label is its highest cosine similarity to the label's examples, mapped to a
probability by a logistic curve fitted (at training time) on the labels the model does know.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np


class PrototypeScorer:
    """Nearest-example scoring for labels that only have examples in labels.yaml."""

    def __init__(self, examples: dict[str, list[str]], embed: Callable[[list[str]], np.ndarray],
                 calibration: list[float]) -> None:
        self.labels = list(examples)
        self._vectors = [embed(list(examples[label])) for label in self.labels]
        self.slope, self.intercept = calibration

    def max_cosine(self, embeddings: np.ndarray) -> np.ndarray:
        if not self.labels:
            return np.zeros((len(embeddings), 0), dtype=np.float32)
        return np.stack([(embeddings @ vectors.T).max(axis=1) for vectors in self._vectors], axis=1)

    def scores(self, embeddings: np.ndarray) -> np.ndarray:
        """Probability per prototype label, shape ``(n, n_prototype_labels)``."""
        return 1.0 / (1.0 + np.exp(-(self.slope * self.max_cosine(embeddings) + self.intercept)))


def fit_prototype_calibration(similarity: np.ndarray, gold: np.ndarray) -> list[float]:
    """Logistic fit of label presence on max-cosine similarity, pooled over known labels."""
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(C=100.0).fit(similarity.reshape(-1, 1), gold.reshape(-1).astype(int))
    return [float(fit.coef_[0, 0]), float(fit.intercept_[0])]

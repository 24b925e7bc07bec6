"""The departure-reason classifier: a small multi-label head on top of sentence embeddings.

It predicts, saves and loads (safetensors + JSON, never pickle); training lives in ``models.train``.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from pipeline.errors import ModelMismatchError

WEIGHTS_FILE = "head.safetensors"
META_FILE = "classifier.json"
ADAPTER_FILE = "adapter.safetensors"
ADAPTER_CONFIG_FILE = "adapter.json"
FORMAT_VERSION = 1


@dataclass
class ClassifierMeta:
    """What a saved classifier was trained on; checked before it is used."""

    labels: list[str]
    taxonomy_version: str
    taxonomy_fingerprint: str
    encoder: str
    embedding_dim: int
    hidden_dim: int
    thresholds: dict[str, float]
    training_data_sha256: str = ""
    model_version: str = "0"
    format_version: int = FORMAT_VERSION
    metrics: dict = field(default_factory=dict)
    calibration: dict[str, list[float]] = field(default_factory=dict)  # label -> Platt [slope, intercept]
    prototype_calibration: list[float] = field(default_factory=lambda: [30.0, -1.5])  # margin -> logit
    prototype_background: list[str] = field(default_factory=list)  # texts with no label, for new labels
    prototype_threshold: float = 0.25
    uncertain_margin: float = 0.1


def build_head(embedding_dim: int, hidden_dim: int, n_labels: int):
    """An MLP (or a linear layer when ``hidden_dim`` is 0) producing one logit per label."""
    import torch.nn as nn

    if hidden_dim <= 0:
        return nn.Sequential(nn.Dropout(0.1), nn.Linear(embedding_dim, n_labels))
    return nn.Sequential(nn.Dropout(0.1), nn.Linear(embedding_dim, hidden_dim), nn.GELU(),
                         nn.Dropout(0.2), nn.Linear(hidden_dim, n_labels))


def assign_labels(scores: np.ndarray, label_ids: list[str], thresholds: np.ndarray) -> list[list[str]]:
    """Per row, the labels whose score reaches their threshold, highest score first."""
    return [[label_ids[j] for j in np.argsort(-row) if row[j] >= thresholds[j]] for row in scores]


class ReasonClassifier:
    """Scores each label for a batch of embeddings; labels above their threshold are assigned."""

    def __init__(self, head, meta: ClassifierMeta, adapter: tuple[dict, dict] | None = None) -> None:
        self.head = head.eval()
        self.meta = meta
        self.adapter = adapter  # (LoRA config, state) of a fine-tuned encoder, saved beside the head
        self.adapter_path: Path | None = None

    @property
    def labels(self) -> list[str]:
        return list(self.meta.labels)

    def logits(self, embeddings: np.ndarray) -> np.ndarray:
        """Raw head outputs, shape ``(n, n_labels)``."""
        import torch

        with torch.inference_mode():
            return self.head(torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32))).numpy()

    def scores(self, embeddings: np.ndarray) -> np.ndarray:
        """Calibrated probability per label, shape ``(n, n_labels)``."""
        logits = self.logits(embeddings)
        if self.meta.calibration:
            platt = np.array([self.meta.calibration[label] for label in self.labels], dtype=np.float32)
            logits = logits * platt[:, 0] + platt[:, 1]
        return 1.0 / (1.0 + np.exp(-logits))

    def assign(self, scores: np.ndarray) -> list[list[str]]:
        """Labels whose score reaches their threshold, highest score first."""
        thresholds = np.array([self.meta.thresholds[label] for label in self.labels])
        return assign_labels(scores, self.labels, thresholds)

    def check_compatible(self, taxonomy, encoder_name: str | None = None) -> list[str]:
        """Refuse a taxonomy that removed or redefined a trained label, or another encoder.

        Returns the labels that are new in ``taxonomy``: they are scored from their examples
        (see ``models.prototypes``) until the model is retrained.
        """
        removed = [label for label in self.labels if label not in taxonomy.ids]
        if removed:
            raise ModelMismatchError(
                f"the classifier predicts {', '.join(removed)}, which labels.yaml {taxonomy.version} no longer has. "
                f"Retrain with `churnlens train`, or pass --labels with the taxonomy the model was trained on "
                f"(version {self.meta.taxonomy_version}).")
        if taxonomy.fingerprint(self.labels) != self.meta.taxonomy_fingerprint:
            raise ModelMismatchError(
                f"the definitions of the trained labels changed since the classifier was trained on taxonomy "
                f"{self.meta.taxonomy_version} (labels.yaml is {taxonomy.version}): a description was edited. "
                f"Retrain with `churnlens train`, or restore the old descriptions.")
        if encoder_name is not None and encoder_name != self.meta.encoder:
            raise ModelMismatchError(
                f"the classifier was trained on encoder {self.meta.encoder!r}, not {encoder_name!r}; "
                f"retrain with `churnlens train --encoder {encoder_name}`")
        return [label for label in taxonomy.ids if label not in self.labels]

    def save(self, directory: str | Path) -> Path:
        """Write ``head.safetensors`` and ``classifier.json`` (atomically, via temp files)."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous() for k, v in self.head.state_dict().items()}
        tmp_weights = directory / (WEIGHTS_FILE + ".tmp")
        save_file(state, str(tmp_weights))
        tmp_meta = directory / (META_FILE + ".tmp")
        tmp_meta.write_text(json.dumps(asdict(self.meta), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        target_adapter = directory / ADAPTER_FILE
        if self.adapter is not None:  # freshly trained: write it
            config, adapter_state = self.adapter
            save_file({k: v.contiguous() for k, v in adapter_state.items()}, str(directory / (ADAPTER_FILE + ".tmp")))
            (directory / ADAPTER_CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
            (directory / (ADAPTER_FILE + ".tmp")).replace(target_adapter)
        elif self.adapter_path is not None:  # loaded from disk: keep it (copy if saved elsewhere)
            if self.adapter_path.resolve() != target_adapter.resolve():
                shutil.copyfile(self.adapter_path, target_adapter)
                shutil.copyfile(self.adapter_path.with_suffix(".json"), directory / ADAPTER_CONFIG_FILE)
        else:
            target_adapter.unlink(missing_ok=True)
            (directory / ADAPTER_CONFIG_FILE).unlink(missing_ok=True)
        tmp_weights.replace(directory / WEIGHTS_FILE)
        tmp_meta.replace(directory / META_FILE)
        if self.adapter is not None or self.adapter_path is not None:
            self.adapter_path = target_adapter
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> "ReasonClassifier":
        """Load a classifier saved by :meth:`save`."""
        from safetensors.torch import load_file

        directory = Path(directory)
        meta_path = directory / META_FILE
        if not meta_path.exists():
            raise FileNotFoundError(f"no classifier in {directory} ({META_FILE} missing); "
                                    f"train one with `churnlens train --output {directory}`")
        raw = json.loads(meta_path.read_text(encoding="utf-8"))
        if raw.get("format_version") != FORMAT_VERSION:
            raise ModelMismatchError(f"{meta_path} has format {raw.get('format_version')}, expected {FORMAT_VERSION}; retrain")
        meta = ClassifierMeta(**raw)
        head = build_head(meta.embedding_dim, meta.hidden_dim, len(meta.labels))
        head.load_state_dict(load_file(str(directory / WEIGHTS_FILE)))
        classifier = cls(head, meta)
        if (directory / ADAPTER_FILE).exists():
            classifier.adapter_path = directory / ADAPTER_FILE
        return classifier

"""Tag batches of records: detect language, score every label, assign labels. No Prefect here."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipeline.chunking import LONG_TEXT_CHARS, windows
from pipeline.config import DEFAULT_DETECTOR, DEFAULT_LABELS, DEFAULT_MODEL_DIR, LANGUAGES
from pipeline.ingest import InputBatch
from pipeline.langid import detect_languages
from pipeline.records import build_tagged_table
from pipeline.taxonomy import Taxonomy, load_taxonomy


class Tagger:
    """Everything needed to tag text: taxonomy, classifier, encoder and language detector."""

    def __init__(self, taxonomy: Taxonomy, classifier, embed: Callable[[list[str]], np.ndarray],
                 detector: str = DEFAULT_DETECTOR, languages: tuple[str, ...] = LANGUAGES) -> None:
        classifier.check_compatible(taxonomy)
        self.taxonomy, self.classifier, self.embed = taxonomy, classifier, embed
        self.detector, self.languages = detector, tuple(languages)

    @classmethod
    def load(cls, model_dir: str | Path = DEFAULT_MODEL_DIR, labels: str | Path = DEFAULT_LABELS,
             detector: str = DEFAULT_DETECTOR, encoder: str | None = None) -> "Tagger":
        """Load the classifier in ``model_dir`` and the encoder it was trained on."""
        from models.classifier import ReasonClassifier
        from models.encoder import load_encoder

        taxonomy = load_taxonomy(labels)
        classifier = ReasonClassifier.load(model_dir)
        classifier.check_compatible(taxonomy, encoder)
        return cls(taxonomy, classifier, load_encoder(classifier.meta.encoder).embed, detector)

    @property
    def model_version(self) -> str:
        return self.classifier.meta.model_version

    def score(self, texts: list[str]) -> np.ndarray:
        """Label scores per text; long texts take the maximum over the whole text and its sentence windows."""
        pieces: list[str] = []
        owner: list[int] = []
        for i, text in enumerate(texts):
            pieces.append(text)
            owner.append(i)
            if len(text) > LONG_TEXT_CHARS:
                for window in windows(text):
                    pieces.append(window)
                    owner.append(i)
        piece_scores = self.classifier.scores(self.embed(pieces))
        scores = np.zeros((len(texts), len(self.classifier.labels)), dtype=np.float32)
        np.maximum.at(scores, np.array(owner), piece_scores)
        return scores

    def predict(self, texts: list[str]) -> tuple[np.ndarray, list[list[str]]]:
        scores = self.score(texts)
        return scores, self.classifier.assign(scores)

    def detect(self, texts: list[str]) -> list[tuple[str, float]]:
        return detect_languages(texts, self.detector, self.languages)

    def tag(self, batch: InputBatch, languages: list[tuple[str, float]] | None = None) -> pa.Table:
        """Tag one batch (detecting languages unless given); one output row per valid record."""
        languages = languages if languages is not None else self.detect(batch.texts)
        scores, labels = self.predict(batch.texts) if len(batch) else (np.zeros((0, 0)), [])
        return build_tagged_table(
            batch, languages, scores, labels, self.classifier.labels,
            model_version=self.model_version, taxonomy_version=self.taxonomy.version,
            processed_at=datetime.now(timezone.utc),
        )

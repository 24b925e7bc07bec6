"""Tag batches of records: detect language, score every label, assign labels, find evidence. No Prefect here."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

from models.classifier import assign_labels
from pipeline.config import DEFAULT_DETECTOR, DEFAULT_LABELS, DEFAULT_MODEL_DIR, LANGUAGES
from pipeline.ingest import InputBatch
from pipeline.langid import detect_languages
from pipeline.records import build_tagged_table
from pipeline.sentences import sentence_spans, windows
from pipeline.taxonomy import Taxonomy, load_taxonomy

LONG_TEXT_CHARS = 500
WINDOW_CHARS = 350

Evidence = dict[str, tuple[int, int, str]]


@dataclass
class Predictions:
    """Per-text results of :meth:`Tagger.predict`, label columns in ``label_ids`` order."""

    label_ids: list[str]
    scores: np.ndarray
    labels: list[list[str]]
    uncertain: list[bool]
    evidence: list[Evidence]


class Tagger:
    """Everything needed to tag text: taxonomy, classifier, encoder and language detector.

    Labels in the taxonomy that the classifier was not trained on are scored from their
    labels.yaml examples (``models.prototypes``) until `churnlens train` folds them in.
    """

    def __init__(self, taxonomy: Taxonomy, classifier, embed: Callable[[list[str]], np.ndarray],
                 detector: str = DEFAULT_DETECTOR, languages: tuple[str, ...] = LANGUAGES,
                 evidence: bool = True, base_embed: Callable[[list[str]], np.ndarray] | None = None,
                 precision: str = "fp32") -> None:
        """``base_embed``: the encoder without fine-tuning, used only to score labels added after training;
        ``precision``: how ``embed`` runs (recorded so checkpoints of another precision are not reused)."""
        from models.prototypes import PrototypeScorer

        self.precision = precision
        new_labels = classifier.check_compatible(taxonomy)
        self.taxonomy, self.classifier, self.embed = taxonomy, classifier, embed
        self.detector, self.languages, self.with_evidence = detector, tuple(languages), evidence
        self.prototypes = None
        if new_labels:
            self.prototypes = PrototypeScorer(
                {label: list(taxonomy[label].examples) for label in taxonomy.ids}, new_labels,
                classifier.meta.prototype_background, base_embed or embed, classifier.meta.prototype_calibration)
        self.label_ids = classifier.labels + new_labels
        self.thresholds = np.array([classifier.meta.thresholds.get(label, classifier.meta.prototype_threshold)
                                    for label in self.label_ids])

    @classmethod
    def load(cls, model_dir: str | Path = DEFAULT_MODEL_DIR, labels: str | Path = DEFAULT_LABELS,
             detector: str = DEFAULT_DETECTOR, encoder: str | None = None, evidence: bool = True,
             precision: str = "fp32") -> "Tagger":
        """Load the classifier in ``model_dir`` and the encoder it was trained on (``precision``: see ``models.encoder.load.PRECISIONS``)."""
        from models.classifier import ReasonClassifier
        from models.encoder import load_encoder

        taxonomy = load_taxonomy(labels)
        classifier = ReasonClassifier.load(model_dir)
        classifier.check_compatible(taxonomy, encoder)
        embed = load_encoder(classifier.meta.encoder, adapter=classifier.adapter_path, precision=precision).embed
        needs_base = classifier.adapter_path is not None and set(taxonomy.ids) - set(classifier.labels)
        base_embed = load_encoder(classifier.meta.encoder).embed if needs_base else None
        return cls(taxonomy, classifier, embed, detector, evidence=evidence, base_embed=base_embed,
                   precision=precision)

    @property
    def model_version(self) -> str:
        return self.classifier.meta.model_version

    def detect(self, texts: list[str]) -> list[tuple[str, float]]:
        return detect_languages(texts, self.detector, self.languages)

    def _score_texts(self, texts: list[str]) -> np.ndarray:
        scores = self.classifier.scores(self.embed(texts))
        if self.prototypes is not None:
            scores = np.hstack([scores, self.prototypes.scores_for_texts(texts)])
        return scores

    def _score_pieces(self, pieces: list[str], owner: list[int], n: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores of each piece, and per owner the maximum over its pieces."""
        piece_scores = self._score_texts(pieces) if pieces else np.zeros((0, len(self.label_ids)))
        pooled = np.zeros((n, len(self.label_ids)), dtype=np.float32)
        if pieces:
            np.maximum.at(pooled, np.array(owner), piece_scores)
        return piece_scores, pooled

    def predict(self, texts: list[str], languages: list[str] | None = None) -> Predictions:
        """Scores, labels, an ``uncertain`` flag and evidence sentences for each text.

        Long texts are scored as a whole and per window of sentences, keeping the maximum, so a
        reason in the last paragraph is not truncated away.
        """
        languages = languages or ["xx"] * len(texts)
        spans: list[list[tuple[int, int]] | None] = [
            sentence_spans(t, lang) if len(t) > LONG_TEXT_CHARS else None for t, lang in zip(texts, languages)]
        pieces, owner = [], []
        for i, text in enumerate(texts):
            pieces.append(text)
            owner.append(i)
            if len(text) > LONG_TEXT_CHARS:
                for start, end in windows(text, spans[i], WINDOW_CHARS):
                    pieces.append(text[start:end])
                    owner.append(i)
        _, scores = self._score_pieces(pieces, owner, len(texts))
        labels = assign_labels(scores, self.label_ids, self.thresholds)
        margin = self.classifier.meta.uncertain_margin
        uncertain = (np.abs(scores - self.thresholds) < margin).any(axis=1).tolist()
        if self.with_evidence:  # sentences of the labelled texts only: splitting is not free
            spans = [s if s is not None or not lab else sentence_spans(t, lang)
                     for s, lab, t, lang in zip(spans, labels, texts, languages)]
            evidence = self._evidence(texts, spans, labels)
        else:
            evidence = [{} for _ in texts]
        return Predictions(self.label_ids, scores, labels, uncertain, evidence)

    def _evidence(self, texts: list[str], spans: list[list[tuple[int, int]] | None],
                  labels: list[list[str]]) -> list[Evidence]:
        """For each assigned label, the sentence that scores highest for it."""
        out: list[Evidence] = [{} for _ in texts]
        pieces, owner, piece_spans = [], [], []
        for i, (text, text_spans, text_labels) in enumerate(zip(texts, spans, labels)):
            if not text_labels:
                continue
            if len(text_spans) <= 1:
                start, end = text_spans[0] if text_spans else (0, len(text))
                out[i] = {label: (start, end, text[start:end]) for label in text_labels}
                continue
            for start, end in text_spans:
                pieces.append(text[start:end])
                owner.append(i)
                piece_spans.append((start, end))
        if not pieces:
            return out
        piece_scores, _ = self._score_pieces(pieces, owner, len(texts))
        best: dict[tuple[int, str], tuple[float, tuple[int, int]]] = {}
        column = {label: j for j, label in enumerate(self.label_ids)}
        for row, i, span in zip(piece_scores, owner, piece_spans):
            for label in labels[i]:
                score = float(row[column[label]])
                if (i, label) not in best or score > best[(i, label)][0]:
                    best[(i, label)] = (score, span)
        for (i, label), (_, (start, end)) in best.items():
            out[i][label] = (start, end, texts[i][start:end])
        return out

    def tag(self, batch: InputBatch, languages: list[tuple[str, float]] | None = None) -> pa.Table:
        """Tag one batch (detecting languages unless given); one output row per valid record."""
        languages = languages if languages is not None else self.detect(batch.texts)
        predictions = self.predict(batch.texts, [lang for lang, _ in languages])
        return build_tagged_table(batch, languages, predictions, model_version=self.model_version,
                                  taxonomy_version=self.taxonomy.version, processed_at=datetime.now(timezone.utc))

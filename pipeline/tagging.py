"""Tag batches of records: detect language, score every label, assign labels, find evidence. No Prefect here."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

from models.classifier import assign_labels
from models.encoder.spans import SpanEmbed
from pipeline.config import (DEFAULT_DETECTOR, DEFAULT_EVIDENCE, DEFAULT_LABELS, DEFAULT_MODEL_DIR, EVIDENCE_MODES,
                             LANGUAGES)
from pipeline.ingest import InputBatch
from pipeline.langid import detect_languages
from pipeline.records import build_tagged_table
from pipeline.sentences import Span, sentence_spans, windows
from pipeline.taxonomy import Taxonomy, load_taxonomy

LONG_TEXT_CHARS = 500
WINDOW_CHARS = 200  # in-context windows: smaller ones let one buried sentence weigh more (see MODEL_CARD)

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
                 precision: str = "fp32", embed_spans: SpanEmbed | None = None,
                 base_embed_spans: SpanEmbed | None = None,
                 evidence_candidates: int = EVIDENCE_MODES[DEFAULT_EVIDENCE]) -> None:
        """``embed_spans``: text and span embeddings from one pass (an encoder's ``embed_spans``; by
        default each span is encoded on its own); ``base_embed``/``base_embed_spans``: the encoder without
        fine-tuning, used only to score labels added after training; ``precision``: how ``embed`` runs
        (recorded so checkpoints of another precision are not reused)."""
        from models.encoder.spans import separately
        from models.prototypes import PrototypeScorer

        self.precision = precision
        new_labels = classifier.check_compatible(taxonomy)
        self.taxonomy, self.classifier, self.embed = taxonomy, classifier, embed
        self.detector, self.languages, self.with_evidence = detector, tuple(languages), evidence
        self.embed_spans = embed_spans or separately(embed)
        self.base_embed_spans = base_embed_spans or (separately(base_embed) if base_embed else None)
        self.evidence_candidates = evidence_candidates
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
             detector: str = DEFAULT_DETECTOR, encoder: str | None = None, evidence: bool | str = True,
             precision: str = "fp32") -> "Tagger":
        """Load the classifier in ``model_dir`` and the encoder it was trained on.

        ``evidence``: a mode of ``pipeline.config.EVIDENCE_MODES`` ("checked", "fast", "off"), or a bool
        for the default mode / none; ``precision``: see ``models.encoder.load.PRECISIONS``.
        """
        mode = (DEFAULT_EVIDENCE if evidence else "off") if isinstance(evidence, bool) else evidence
        if mode not in EVIDENCE_MODES:
            raise ValueError(f"unknown evidence mode {mode!r}; choose one of {', '.join(EVIDENCE_MODES)}")
        from models.classifier import ReasonClassifier
        from models.encoder import load_encoder

        taxonomy = load_taxonomy(labels)
        classifier = ReasonClassifier.load(model_dir)
        classifier.check_compatible(taxonomy, encoder)
        encoder = load_encoder(classifier.meta.encoder, adapter=classifier.adapter_path, precision=precision)
        needs_base = classifier.adapter_path is not None and set(taxonomy.ids) - set(classifier.labels)
        base = load_encoder(classifier.meta.encoder) if needs_base else None
        return cls(taxonomy, classifier, encoder.embed, detector, evidence=mode != "off",
                   base_embed=base.embed if base else None, precision=precision, embed_spans=encoder.embed_spans,
                   base_embed_spans=base.embed_spans if base else None, evidence_candidates=EVIDENCE_MODES[mode])

    @property
    def model_version(self) -> str:
        return self.classifier.meta.model_version

    def detect(self, texts: list[str]) -> list[tuple[str, float]]:
        return detect_languages(texts, self.detector, self.languages)

    def _score_texts(self, texts: list[str]) -> np.ndarray:
        """Scores of texts encoded on their own, shape ``(len(texts), n_labels)``."""
        if not texts:
            return np.zeros((0, len(self.label_ids)), dtype=np.float32)
        scores = self.classifier.scores(self.embed(texts))
        if self.prototypes is not None:
            scores = np.hstack([scores, self.prototypes.scores_for_texts(texts)])
        return scores

    def _score_with_spans(self, texts: list[str], spans: list[list[Span]]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Scores of each text and of each of its spans, from one encoder pass."""
        text_emb, span_emb = self.embed_spans(texts, spans)
        bounds = np.cumsum([0] + [len(s) for s in spans])
        flat = np.vstack(span_emb) if bounds[-1] else np.zeros((0, text_emb.shape[1]), dtype=np.float32)
        text_scores, span_scores = self.classifier.scores(text_emb), self.classifier.scores(flat)
        if self.prototypes is not None:  # new labels: scored in the base encoder's space
            base_text, base_spans = self.base_embed_spans(texts, spans) if self.base_embed_spans else (text_emb, span_emb)
            base_flat = np.vstack(base_spans) if bounds[-1] else np.zeros((0, base_text.shape[1]), dtype=np.float32)
            text_scores = np.hstack([text_scores, self.prototypes.scores_for_embeddings(base_text)])
            span_scores = np.hstack([span_scores, self.prototypes.scores_for_embeddings(base_flat)])
        return text_scores, [span_scores[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    def predict(self, texts: list[str], languages: list[str] | None = None) -> Predictions:
        """Scores, labels, an ``uncertain`` flag and evidence sentences for each text.

        One encoder pass per text: long texts are scored as a whole and per window of sentences
        (token states pooled within each window), keeping the maximum, so a reason in the last
        paragraph is not lost; sentence scores for the evidence come from the same pass.
        """
        languages = languages or ["xx"] * len(texts)
        sentences = [sentence_spans(text, lang) if self.with_evidence or len(text) > LONG_TEXT_CHARS else []
                     for text, lang in zip(texts, languages)]
        text_windows = [windows(text, spans, WINDOW_CHARS) if len(text) > LONG_TEXT_CHARS else []
                        for text, spans in zip(texts, sentences)]
        evidence_spans = [spans if self.with_evidence and len(spans) > 1 else [] for spans in sentences]
        scores, span_scores = self._score_with_spans(texts, [w + e for w, e in zip(text_windows, evidence_spans)])
        for i, found in enumerate(text_windows):
            if found:
                scores[i] = np.maximum(scores[i], span_scores[i][: len(found)].max(axis=0))
        labels = assign_labels(scores, self.label_ids, self.thresholds)
        margin = self.classifier.meta.uncertain_margin
        uncertain = (np.abs(scores - self.thresholds) < margin).any(axis=1).tolist()
        if self.with_evidence:
            sentence_scores = [s[len(w):] for s, w in zip(span_scores, text_windows)]
            evidence = self._evidence(texts, sentences, sentence_scores, labels)
        else:
            evidence = [{} for _ in texts]
        return Predictions(self.label_ids, scores.astype(np.float32), labels, uncertain, evidence)

    def _evidence(self, texts: list[str], sentences: list[list[Span]], sentence_scores: list[np.ndarray],
                  labels: list[list[str]]) -> list[Evidence]:
        """For each assigned label, the sentence that supports it best.

        In-context sentence scores rank the sentences; the top ``evidence_candidates`` per label are
        then read again on their own and the best of them wins (context bleeds a text's reasons into
        its neighbouring sentences, so the in-context ranking alone picks the wrong one more often).
        """
        out: list[Evidence] = [{} for _ in texts]
        column = {label: j for j, label in enumerate(self.label_ids)}
        candidates: dict[tuple[int, str], list[int]] = {}
        for i, (text, spans, text_labels) in enumerate(zip(texts, sentences, labels)):
            if not text_labels:
                continue
            if len(spans) <= 1:
                start, end = spans[0] if spans else (0, len(text))
                out[i] = {label: (start, end, text[start:end]) for label in text_labels}
                continue
            for label in text_labels:
                ranked = np.argsort(-sentence_scores[i][:, column[label]], kind="stable")
                candidates[(i, label)] = ranked[: max(self.evidence_candidates, 1)].tolist()
        if self.evidence_candidates > 1:
            pieces = sorted({(i, k) for (i, _), ks in candidates.items() for k in ks if len(ks) > 1})
            alone = dict(zip(pieces, self._score_texts([texts[i][slice(*sentences[i][k])] for i, k in pieces])))
            for (i, label), ks in candidates.items():
                if len(ks) > 1:
                    ks.sort(key=lambda k: -alone[(i, k)][column[label]])
        for (i, label), ks in candidates.items():
            start, end = sentences[i][ks[0]]
            out[i][label] = (start, end, texts[i][start:end])
        return out

    def tag(self, batch: InputBatch, languages: list[tuple[str, float]] | None = None) -> pa.Table:
        """Tag one batch (detecting languages unless given); one output row per valid record."""
        languages = languages if languages is not None else self.detect(batch.texts)
        predictions = self.predict(batch.texts, [lang for lang, _ in languages])
        return build_tagged_table(batch, languages, predictions, model_version=self.model_version,
                                  taxonomy_version=self.taxonomy.version, processed_at=datetime.now(timezone.utc))

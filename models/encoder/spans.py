"""Embeddings of a text and of character spans inside it, from one encoder pass.

A span's embedding is the mean of the token states that overlap it, plus the framing tokens
(``<s>``, the ``query:`` prefix, ``</s>``) that a separately encoded span would also have, so its
scale matches what the classifier head was trained on. The states are contextual: a sentence is
read with its neighbours, as a person reads it. Spans past the encoder's truncation point are
encoded on their own, so a reason at the end of a very long text is still seen.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Span = tuple[int, int]
SpanEmbeddings = tuple[np.ndarray, list[np.ndarray]]
SpanEmbed = Callable[[list[str], Sequence[Sequence[Span]]], SpanEmbeddings]


def normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def pool_spans(hidden: np.ndarray, offsets: np.ndarray, framing: np.ndarray, spans: Sequence[Span],
               shift: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised mean of the token states inside each span (plus the framing tokens) of one text.

    ``hidden`` ``(L, d)``, ``offsets`` ``(L, 2)`` character offsets into the prefixed text,
    ``framing`` ``(L,)`` marks special and prefix tokens, ``shift`` is the prefix length. Returns the
    ``(k, d)`` embeddings and, per span, whether the pass covered all of it (not truncated away).
    """
    starts, ends = offsets[:, 0] - shift, offsets[:, 1] - shift
    content = (ends > starts) & ~framing
    bounds = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    inside = content[None, :] & (starts[None, :] < bounds[:, 1:2]) & (ends[None, :] > bounds[:, 0:1])
    covered_until = int(ends[content].max()) if content.any() else 0
    covered = inside.any(axis=1) & (bounds[:, 1] <= covered_until)
    weights = (inside | framing[None, :]).astype(hidden.dtype)
    pooled = weights @ hidden / np.maximum(weights.sum(axis=1, keepdims=True), 1.0)
    return normalise(pooled).astype(np.float32), covered


def embed_with_spans(encoder, texts: list[str], spans: Sequence[Sequence[Span]],
                     batch_size: int = 32) -> SpanEmbeddings:
    """Whole-text embeddings ``(n, d)`` and, per text, its spans' embeddings ``(k_i, d)``, in one pass.

    ``encoder`` needs ``tokenizer``, ``prefix``, ``max_length``, ``dim``, ``embed`` and
    ``hidden_states(input_ids, attention_mask) -> (b, L, d)``. Whole-text embeddings equal ``embed``'s.
    """
    n, dim, shift = len(texts), encoder.dim, len(encoder.prefix)
    text_emb = np.zeros((n, dim), dtype=np.float32)
    span_emb = [np.zeros((len(s), dim), dtype=np.float32) for s in spans]
    uncovered: list[tuple[int, int]] = []
    order = sorted(range(n), key=lambda i: len(texts[i]))
    for begin in range(0, n, batch_size):
        idx = order[begin : begin + batch_size]
        batch = encoder.tokenizer([encoder.prefix + texts[i] for i in idx], padding=True, truncation=True,
                                  max_length=encoder.max_length, return_offsets_mapping=True,
                                  return_special_tokens_mask=True, return_tensors="np")
        mask = batch["attention_mask"].astype(np.int64)
        hidden = encoder.hidden_states(batch["input_ids"].astype(np.int64), mask)
        weights = mask[..., None].astype(np.float32)
        text_emb[idx] = normalise((hidden * weights).sum(1) / np.maximum(weights.sum(1), 1e-9))
        offsets = batch["offset_mapping"]
        framing = (batch["special_tokens_mask"] == 1) | (offsets[..., 1] <= shift)
        framing &= mask == 1
        for row, i in enumerate(idx):
            if len(spans[i]):
                span_emb[i], covered = pool_spans(hidden[row], offsets[row], framing[row], spans[i], shift)
                uncovered += [(i, j) for j in np.flatnonzero(~covered)]
    if uncovered:  # beyond the truncation point (or no token inside): encode those spans alone
        alone = encoder.embed([texts[i][spans[i][j][0] : spans[i][j][1]] for i, j in uncovered])
        for (i, j), row in zip(uncovered, alone):
            span_emb[i][j] = row
    return text_emb, span_emb


def separately(embed: Callable[[list[str]], np.ndarray]) -> SpanEmbed:
    """A span embedder for encoders without token states (stand-ins): each span encoded on its own."""

    def embed_spans(texts: list[str], spans: Sequence[Sequence[Span]]) -> SpanEmbeddings:
        pieces = [texts[i][s:e] for i, text_spans in enumerate(spans) for s, e in text_spans]
        everything = embed(list(texts) + pieces)
        text_emb, rest = everything[: len(texts)], everything[len(texts) :]
        bounds = np.cumsum([0] + [len(s) for s in spans])
        return text_emb, [rest[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    return embed_spans

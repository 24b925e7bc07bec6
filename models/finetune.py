"""Fine-tune the top of the encoder with LoRA, jointly with the label head.

The lower layers stay frozen, so their outputs are computed once per training text and cached;
each epoch then runs only the top ``top_layers`` layers. Only the LoRA matrices (~2 MB) and the
head are saved; at load time the adapter is merged into the converted encoder's weights.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field

import numpy as np

log = logging.getLogger(__name__)
ADAPTER_FILE = "adapter.safetensors"


@dataclass
class FinetuneSettings:
    """Hyper-parameters of the LoRA stage; validated on creation."""

    top_layers: int = 4
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.1
    target_modules: tuple[str, ...] = ("query", "key", "value", "dense")
    epochs: int = 7
    context_examples: int = 400  # short training texts also shown inside neutral text (models/augment.py)
    batch_size: int = 16
    lora_learning_rate: float = 1e-3
    head_learning_rate: float = 3e-3
    weight_decay: float = 0.01
    max_length: int = 256
    seed: int = 0
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.top_layers <= 24 or self.rank < 1 or self.epochs < 1 or self.batch_size < 1:
            raise ValueError("top_layers in 1..24; rank, epochs and batch_size must be >= 1")

    def lora_config(self, n_layers: int) -> dict:
        return {"r": self.rank, "lora_alpha": self.alpha, "lora_dropout": self.dropout,
                "target_modules": list(self.target_modules),
                "layers_to_transform": list(range(n_layers - self.top_layers, n_layers)), "layers_pattern": "layer"}


def apply_adapter(model, config: dict, state: dict | None = None):
    """Wrap a BertModel with LoRA; load ``state`` if given. Returns the peft model."""
    import warnings

    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict

    with warnings.catch_warnings():  # peft calls a transformers API that is deprecated but works
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        peft_model = get_peft_model(model, LoraConfig(**config))
    if state is not None:
        result = set_peft_model_state_dict(peft_model, state)
        if getattr(result, "unexpected_keys", None):
            raise ValueError(f"adapter does not fit the encoder: unexpected {result.unexpected_keys[:3]}")
    return peft_model


class TopLayers:
    """Runs the frozen lower layers once (cached) and the trainable top layers per step."""

    def __init__(self, encoder, top_layers: int, max_length: int) -> None:
        self.encoder, self.max_length = encoder, max_length
        self.split = encoder.model.config.num_hidden_layers - top_layers

    def lower(self, texts: list[str], batch_size: int = 32) -> list:
        """Hidden states after the frozen layers, one ``(tokens, dim)`` tensor per text."""
        import torch

        out: list = [None] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                batch = self.encoder.tokenize([texts[i] for i in idx])
                batch = {k: v[:, : self.max_length] for k, v in batch.items()}
                hidden = self.encoder.model(**batch, output_hidden_states=True).hidden_states[self.split]
                lengths = batch["attention_mask"].sum(1)
                for row, i in enumerate(idx):
                    out[i] = hidden[row, : lengths[row]].clone()
        return out

    def upper(self, model, states: list):
        """Pooled, normalised embeddings from cached lower states through the (LoRA) top layers."""
        import torch

        lengths = [s.shape[0] for s in states]
        hidden = torch.nn.utils.rnn.pad_sequence(states, batch_first=True)
        mask = torch.zeros(hidden.shape[:2], dtype=torch.long)
        for row, n in enumerate(lengths):
            mask[row, :n] = 1
        from transformers.masking_utils import create_bidirectional_mask

        bert = model.get_base_model() if hasattr(model, "get_base_model") else model
        # the mask in the format this model's attention implementation expects (what BertModel.forward builds)
        extended = create_bidirectional_mask(config=bert.config, inputs_embeds=hidden, attention_mask=mask)
        for layer in bert.encoder.layer[self.split :]:
            output = layer(hidden, attention_mask=extended)
            hidden = output[0] if isinstance(output, tuple) else output
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1)


def finetune(encoder, texts: list[str], y: np.ndarray, head, settings: FinetuneSettings,
             on_epoch=None) -> tuple[dict, dict]:
    """Train LoRA on the top layers plus ``head``; returns (adapter config, adapter state dict).

    ``encoder.model`` is replaced by the base model with the trained adapter merged in.
    """
    import torch
    from peft import get_peft_model_state_dict

    torch.manual_seed(settings.seed)
    config = settings.lora_config(encoder.model.config.num_hidden_layers)
    top = TopLayers(encoder, settings.top_layers, settings.max_length)
    started = time.perf_counter()
    cached = top.lower(texts)
    log.info("cached lower layers for %d texts in %.0f s", len(texts), time.perf_counter() - started)
    model = apply_adapter(encoder.model, config)
    yt = torch.from_numpy(y)
    positives = yt.sum(0).clamp(min=1)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=((len(yt) - positives) / positives).clamp(max=4.0).sqrt())
    lora_params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW([
        {"params": lora_params, "lr": settings.lora_learning_rate},
        {"params": head.parameters(), "lr": settings.head_learning_rate},
    ], weight_decay=settings.weight_decay)
    steps_per_epoch = (len(texts) + settings.batch_size - 1) // settings.batch_size
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=[settings.lora_learning_rate, settings.head_learning_rate],
        total_steps=settings.epochs * steps_per_epoch, pct_start=0.1)
    rng = np.random.default_rng(settings.seed)
    lengths = np.array([s.shape[0] for s in cached])
    for epoch in range(settings.epochs):
        model.train()
        head.train()
        total = 0.0
        for batch in _length_bucketed_batches(lengths, settings.batch_size, rng):
            optimiser.zero_grad()
            logits = head(top.upper(model, [cached[i] for i in batch]))
            loss = loss_fn(logits, yt[batch])
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item()
        model.eval()
        head.eval()
        log.info("epoch %d/%d loss %.4f (%.0f s)", epoch + 1, settings.epochs, total / steps_per_epoch,
                 time.perf_counter() - started)
        if on_epoch:
            on_epoch(epoch, total / steps_per_epoch)
    state = {k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()}
    encoder.model = model.merge_and_unload().eval()
    return config, state


def _length_bucketed_batches(lengths: np.ndarray, batch_size: int, rng) -> list[np.ndarray]:
    """Shuffled batches of similar length (less padding), in shuffled order."""
    perm = rng.permutation(len(lengths))
    pool = batch_size * 8
    batches = []
    for start in range(0, len(perm), pool):
        chunk = perm[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def settings_dict(settings: FinetuneSettings) -> dict:
    data = asdict(settings)
    data["target_modules"] = list(settings.target_modules)
    return data

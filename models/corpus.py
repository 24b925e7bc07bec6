"""The labelled training corpus: load, hash and split it deterministically by language."""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent / "data"
RAW_DIR = CORPUS_DIR / "raw"
SPLITS_DIR = CORPUS_DIR / "splits"
SPLIT_FRACTIONS = {"train": 0.70, "validation": 0.15, "test": 0.15}


@dataclass(frozen=True)
class Example:
    text: str
    labels: tuple[str, ...]
    lang: str | None = None

    def to_json(self) -> str:
        return json.dumps({"text": self.text, "labels": list(self.labels), "lang": self.lang}, ensure_ascii=False)


def read_examples(path: str | Path) -> list[Example]:
    """Read a JSONL file of ``{"text", "labels", "lang"?}`` objects (the format of GOLD files too)."""
    examples = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                examples.append(Example(obj["text"], tuple(obj.get("labels") or ()), obj.get("lang")))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: expected {{\"text\": …, \"labels\": […]}} ({exc})") from None
    return examples


def load_raw_corpus(raw_dir: Path = RAW_DIR) -> list[Example]:
    """All hand-written examples, every language, in a stable order."""
    examples: list[Example] = []
    for path in sorted(Path(raw_dir).glob("*.jsonl")):
        examples.extend(read_examples(path))
    return examples


def _rank(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def split_corpus(examples: list[Example]) -> dict[str, list[Example]]:
    """Deterministic split, stratified by language (and, within it, by label set order of the hash)."""
    by_lang: dict[str | None, list[Example]] = defaultdict(list)
    for ex in examples:
        by_lang[ex.lang].append(ex)
    splits: dict[str, list[Example]] = {name: [] for name in SPLIT_FRACTIONS}
    for lang in sorted(by_lang, key=str):
        group = sorted(by_lang[lang], key=lambda e: _rank(e.text))
        n_val = round(len(group) * SPLIT_FRACTIONS["validation"])
        n_test = round(len(group) * SPLIT_FRACTIONS["test"])
        splits["test"] += group[:n_test]
        splits["validation"] += group[n_test : n_test + n_val]
        splits["train"] += group[n_test + n_val :]
    return splits


def write_splits(splits: dict[str, list[Example]], directory: Path = SPLITS_DIR) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, items in splits.items():
        (directory / f"{name}.jsonl").write_text("".join(e.to_json() + "\n" for e in items), encoding="utf-8")


def data_hash(examples: list[Example]) -> str:
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(ex.to_json().encode("utf-8") + b"\n")
    return digest.hexdigest()

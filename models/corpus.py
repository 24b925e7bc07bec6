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
    """All hand-written examples, every language, in a stable order; a text written twice counts once.

    Raises ValueError when the same text carries different labels in two places.
    """
    examples: list[Example] = []
    seen: dict[str, tuple[tuple[str, ...], Path]] = {}
    for path in sorted(Path(raw_dir).glob("*.jsonl")):
        for example in read_examples(path):
            key = example.text.strip()
            if key in seen:
                labels, first = seen[key]
                if set(labels) != set(example.labels):
                    raise ValueError(f"{example.text!r} is labelled {sorted(labels)} in {first.name} but "
                                     f"{sorted(example.labels)} in {path.name}; make the two agree or delete one")
                continue
            seen[key] = (example.labels, path)
            examples.append(example)
    return examples


def _rank(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def split_corpus(examples: list[Example], frozen: dict[str, str] | None = None) -> dict[str, list[Example]]:
    """Deterministic 70/15/15 split, stratified by language.

    Texts listed in ``frozen`` (text -> split, see :func:`frozen_assignment`) keep their split, so
    adding data never moves a test text into training. Without ``frozen``, each language is split by
    the rank of a hash of the text; texts new to a frozen split go by a hash bucket of their own.
    """
    splits: dict[str, list[Example]] = {name: [] for name in SPLIT_FRACTIONS}
    if frozen:
        for ex in examples:
            splits[frozen.get(ex.text) or _bucket(ex.text)].append(ex)
        return splits
    by_lang: dict[str | None, list[Example]] = defaultdict(list)
    for ex in examples:
        by_lang[ex.lang].append(ex)
    for lang in sorted(by_lang, key=str):
        group = sorted(by_lang[lang], key=lambda e: _rank(e.text))
        n_val = round(len(group) * SPLIT_FRACTIONS["validation"])
        n_test = round(len(group) * SPLIT_FRACTIONS["test"])
        splits["test"] += group[:n_test]
        splits["validation"] += group[n_test : n_test + n_val]
        splits["train"] += group[n_test + n_val :]
    return splits


def _bucket(text: str) -> str:
    """A split for a text from its hash alone (independent of every other text)."""
    position = int(_rank(text)[:8], 16) / 0x100000000
    if position < SPLIT_FRACTIONS["test"]:
        return "test"
    if position < SPLIT_FRACTIONS["test"] + SPLIT_FRACTIONS["validation"]:
        return "validation"
    return "train"


def frozen_assignment(directory: Path = SPLITS_DIR) -> dict[str, str]:
    """text -> split name of the committed split files (empty when there are none)."""
    assignment: dict[str, str] = {}
    for name in SPLIT_FRACTIONS:
        path = Path(directory) / f"{name}.jsonl"
        if path.exists():
            assignment.update((e.text, name) for e in read_examples(path))
    return assignment


def write_splits(splits: dict[str, list[Example]], directory: Path = SPLITS_DIR) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, items in splits.items():
        (directory / f"{name}.jsonl").write_text("".join(e.to_json() + "\n" for e in items), encoding="utf-8")


def data_hash(examples: list[Example]) -> str:
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(ex.to_json().encode("utf-8") + b"\n")
    return digest.hexdigest()

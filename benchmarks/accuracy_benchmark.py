"""Accuracy of the default model vs a frozen-encoder head vs zero-shot, per language.

Usage: python benchmarks/accuracy_benchmark.py [GOLD.jsonl ...]
(default: the test split, the independent set and the buried-reason set). The frozen baseline is trained on first use
into ~/.cache/churnlens/baselines (about 2 minutes).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.corpus import read_examples  # noqa: E402
from models.encoder import DEFAULT_ENCODER, load_encoder  # noqa: E402
from models.encoder.load import cache_dir  # noqa: E402
from models.train import label_matrix, tune_thresholds  # noqa: E402
from pipeline.evaluate import evaluate_predictions  # noqa: E402
from pipeline.tagging import Tagger  # noqa: E402
from pipeline.taxonomy import load_taxonomy  # noqa: E402

DEFAULT_SETS = [ROOT / "models/data/splits/test.jsonl", ROOT / "benchmarks/data/external_eval.jsonl",
                ROOT / "benchmarks/data/buried_reason.jsonl"]
VALIDATION = ROOT / "models/data/splits/validation.jsonl"


def zero_shot(taxonomy, validation, texts):
    """Cosine to the English label description, thresholds tuned on the validation split."""
    encoder = load_encoder(DEFAULT_ENCODER)
    labels = list(taxonomy.ids)
    descriptions = encoder.embed([f"{label.id.replace('_', ' ')}: {label.description}" for label in taxonomy.labels])
    val_scores = encoder.embed([e.text for e in validation]) @ descriptions.T
    thresholds = tune_thresholds(val_scores, label_matrix(validation, labels), labels)
    scores = encoder.embed(texts) @ descriptions.T
    cut = np.array([thresholds[label] for label in labels])
    return [[labels[j] for j in range(len(labels)) if row[j] >= cut[j]] for row in scores]


def frozen_baseline() -> Path:
    from models.training_run import run_training

    directory = cache_dir() / "baselines" / "frozen-head"
    if not (directory / "classifier.json").exists():
        run_training(ROOT / "models/data/raw", directory, ROOT / "labels.yaml", DEFAULT_ENCODER, method="frozen",
                     write_card=False)
    return directory


def main(paths: list[Path]) -> None:
    taxonomy = load_taxonomy(ROOT / "labels.yaml")
    labels = list(taxonomy.ids)
    validation = read_examples(VALIDATION)
    systems = {
        "default": Tagger.load(ROOT / "models/default", evidence=False),
        "frozen head": Tagger.load(frozen_baseline(), evidence=False),
    }
    console = Console(width=160)
    record = Console(width=160, record=True, file=open("/dev/null", "w"))
    for path in paths:
        examples = read_examples(path)
        texts, langs = [e.text for e in examples], [e.lang or "und" for e in examples]
        gold = [set(e.labels) for e in examples]
        predicted = {name: tagger.predict(texts, langs).labels for name, tagger in systems.items()}
        predicted["zero-shot"] = zero_shot(taxonomy, validation, texts)
        reports = {name: evaluate_predictions(gold, [set(p) for p in pred], langs, labels)
                   for name, pred in predicted.items()}
        groups = list(reports["default"])
        table = Table(title=f"macro-F1 on {path.name} ({len(examples)} texts)")
        table.add_column("system")
        for group in groups:
            table.add_column(group, justify="right")
        table.add_column("empty-label precision", justify="right")
        for name, report in reports.items():
            table.add_row(name, *[f"{report[g].scores['macro'].f1:.3f}" for g in groups],
                          f"{report['all'].scores['none'].precision:.3f}")
        console.print(table)
        record.print(table)
    comparison = ROOT / "models/default/COMPARISON.md"
    comparison.write_text("# Method comparison (written by `python benchmarks/accuracy_benchmark.py`)\n\n"
                          "macro-F1 per language of the committed model, a head on the frozen encoder, and zero-shot\n"
                          "scoring against the label descriptions.\n\n```\n" + record.export_text() + "```\n",
                          encoding="utf-8")
    console.print(f"written to {comparison}")


if __name__ == "__main__":
    main([Path(p) for p in sys.argv[1:]] or DEFAULT_SETS)

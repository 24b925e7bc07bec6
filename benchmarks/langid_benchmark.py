"""Accuracy and speed of each language detector on short multilingual feedback.

Usage: python benchmarks/langid_benchmark.py [benchmarks/data/langid_short.jsonl]
"""
from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline.langid import DETECTORS, detect_languages, get_detector  # noqa: E402

DATA = Path(__file__).parent / "data" / "langid_short.jsonl"
SHORT = 20


def main(path: Path = DATA) -> None:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts, gold = [r["text"] for r in rows], [r["lang"] for r in rows]
    table = Table(title=f"language identification: {len(rows)} texts, {sum(len(t) < SHORT for t in texts)} under {SHORT} chars")
    langs = sorted(set(gold))
    for col in ["detector", "accuracy", f"< {SHORT} chars", "und", "texts/s", *langs]:
        table.add_column(col, justify="right")
    predictions = {}
    for name in DETECTORS:
        get_detector(name)  # build outside the timing
        start = time.perf_counter()
        pred = [code for code, _ in detect_languages(texts, name)]
        rate = len(texts) / (time.perf_counter() - start)
        predictions[name] = pred
        ok = [p == g for p, g in zip(pred, gold)]
        short = [o for o, t in zip(ok, texts) if len(t) < SHORT]
        per_lang = defaultdict(list)
        for o, g in zip(ok, gold):
            per_lang[g].append(o)
        table.add_row(name, f"{sum(ok) / len(ok):.1%}", f"{sum(short) / max(len(short), 1):.1%}",
                      str(pred.count("und")), f"{rate:,.0f}",
                      *[f"{sum(per_lang[lang]) / len(per_lang[lang]):.0%}" for lang in langs])
    Console(width=160).print(table)
    errors = Table(title="errors of the default detector (lingua)")
    for col in ("text", "gold", "lingua", "langdetect"):
        errors.add_column(col)
    for text, g, a, b in zip(texts, gold, predictions["lingua"], predictions["langdetect"]):
        if a != g:
            errors.add_row(text[:50], g, a, b)
    Console(width=160).print(errors)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DATA)

"""The human review loop: write records worth a look to a spreadsheet, read the corrections back.

The review file is a CSV that Excel opens correctly (UTF-8 with a BOM): one row per record, one
column per label holding 1 where the model assigned it. The reviewer changes the 1s and blanks,
or writes ``ok`` in ``verdict`` to confirm the model; rows left untouched are not imported.
"""
from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from pipeline.encodings import detect_encoding
from pipeline.errors import InputError
from pipeline.store.results import ResultStore
from pipeline.taxonomy import Taxonomy
from pipeline.writers import CsvSink, unguard

FIXED_COLUMNS = ("id", "language", "text", "model_labels", "uncertain")
TRAILING_COLUMNS = ("verdict", "reviewer", "note")
YES = {"1", "x", "yes", "y", "true", "ja", "oui", "да", "はい", "✓"}
NO = {"", "0", "no", "n", "false", "-", "nej", "non", "нет", "いいえ"}
CONFIRM = {"ok", "okay", "confirm", "confirmed", "correct", "✓"}


@dataclass
class ReviewImport:
    corrected: int = 0
    confirmed: int = 0
    untouched: int = 0


def export_review(store: ResultStore, taxonomy: Taxonomy, path: str | Path, sample: int | None = None,
                  uncertain_only: bool = True, seed: int = 0) -> int:
    """Write a review file of the uncertain records (or of all) — at most ``sample`` of them, drawn
    at random with ``seed`` — and return how many rows it has."""
    import json

    rows = [r for table in store.current_records(uncertain_only=uncertain_only) for r in table.to_pylist()
            if r["corrected_labels"] is None]
    if sample is not None and len(rows) > sample:
        rows = sorted(random.Random(seed).sample(rows, sample), key=lambda r: r["id"])
    labels = list(taxonomy.ids)
    columns: dict[str, list] = {c: [] for c in (*FIXED_COLUMNS, *labels, *TRAILING_COLUMNS)}
    for row in rows:
        model = json.loads(row["model_labels"])
        columns["id"].append(row["id"])
        columns["language"].append(row["language"])
        columns["text"].append(row["text"])
        columns["model_labels"].append("; ".join(model))
        columns["uncertain"].append("yes" if row["uncertain"] else "")
        for label in labels:
            columns[label].append("1" if label in model else "")
        for column in TRAILING_COLUMNS:
            columns[column].append("")
    table = pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})
    with CsvSink(path, table.schema) as sink:
        sink.write(table)
    return len(rows)


def _flag(value: str, row: int, column: str) -> bool:
    cell = value.strip().lower()
    if cell in YES:
        return True
    if cell in NO:
        return False
    raise InputError(f"row {row}, column {column!r}: {value!r} is not a yes/no mark; use 1 for yes "
                     "and leave the cell empty for no")


def import_review(store: ResultStore, taxonomy: Taxonomy, path: str | Path, reviewer: str | None = None) -> ReviewImport:
    """Store the corrections and confirmations of a filled-in review file; returns the counts."""
    path = Path(path)
    with open(path, encoding=detect_encoding(path), newline="") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in reader.fieldnames or []]
        missing = [c for c in ("id", "model_labels") if c not in header]
        if missing:
            raise InputError(f"{path.name} is not a churnlens review file: no {', '.join(missing)} column "
                             f"(columns: {', '.join(header)})")
        labels = [label for label in taxonomy.ids if label in header]
        unknown = [h for h in header if h not in (*FIXED_COLUMNS, *TRAILING_COLUMNS, *taxonomy.ids)]
        if unknown:
            raise InputError(f"{path.name} has label columns that labels.yaml does not define: {', '.join(unknown)}. "
                             "Add them to labels.yaml first, or remove the columns.")
        result, corrections = ReviewImport(), []
        for number, raw in enumerate(reader, start=2):
            row = {k.strip(): (v or "") for k, v in raw.items() if k}
            chosen = [label for label in labels if _flag(row.get(label, ""), number, label)]
            model = [m.strip() for m in row["model_labels"].split(";") if m.strip()]
            verdict = row.get("verdict", "").strip().lower()
            if sorted(chosen) != sorted(model) or verdict in CONFIRM:
                changed = sorted(chosen) != sorted(model)
                result.corrected += changed
                result.confirmed += not changed
                corrections.append((unguard(row["id"]), chosen, row.get("reviewer") or reviewer,
                                    row.get("note") or None))
            else:
                result.untouched += 1
    store.add_corrections(corrections)
    return result

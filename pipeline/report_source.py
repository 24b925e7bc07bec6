"""Tagged records for the report, from a tagged output file or from the results store."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from pipeline.records import TAGGED_SCHEMA
from pipeline.run import default_rejects_path


def records_from_file(path: str | Path) -> tuple[pa.Table, int]:
    """A file written by `churnlens classify` (.parquet, .jsonl or .csv) and the size of its rejects file."""
    path = Path(path)
    table = _read(path)
    rejects = default_rejects_path(path)
    return table, (_read(rejects).num_rows if rejects.exists() else 0)


def _read(path: Path) -> pa.Table:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path)
    if suffix in (".jsonl", ".csv"):
        return _from_rows(_rows(path, suffix))
    raise ValueError(f"cannot read {path.name}: expected a .parquet, .jsonl or .csv file written by churnlens")


def _rows(path: Path, suffix: str) -> list[dict]:
    import csv

    if suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        for key in ("labels", "scores", "evidence"):
            row[key] = json.loads(row[key]) if row.get(key) else None
        row["uncertain"] = row.get("uncertain") in ("True", "true", "1")
    return rows


def _from_rows(rows: list[dict]) -> pa.Table:
    """Rows of plain values (JSON or CSV) back into the tagged layout's types."""
    from datetime import datetime

    columns: dict[str, list] = {name: [] for name in TAGGED_SCHEMA.names}
    extra = [k for k in (rows[0] if rows else {}) if k not in columns]
    columns.update({k: [] for k in extra})
    for row in rows:
        for name in TAGGED_SCHEMA.names:
            value = row.get(name)
            if name in ("scores", "evidence") and isinstance(value, dict):
                value = list(value.items())  # Arrow maps take key/value pairs
            if name == "processed_at" and isinstance(value, str) and value:
                value = datetime.fromisoformat(value)
            if name == "language_confidence" and value not in (None, ""):
                value = float(value)
            if name == "row_number" and value not in (None, ""):
                value = int(value)
            columns[name].append(value if value != "" else None)
        for name in extra:
            value = row.get(name)
            columns[name].append(None if value is None else str(value))
    arrays = [pa.array(columns[f.name], f.type) for f in TAGGED_SCHEMA]
    table = pa.Table.from_arrays(arrays, schema=TAGGED_SCHEMA)
    for name in extra:
        table = table.append_column(name, pa.array(columns[name], pa.string()))
    return table


def records_from_store(url: str) -> tuple[pa.Table, int]:
    """The store's current records (human corrections win) in the tagged layout, and its reject count."""
    from pipeline.store import open_store

    rows: list[dict] = []
    with open_store(url) as store:
        for batch in store.current_records():
            for r in batch.to_pylist():
                attributes = json.loads(r["attributes"]) if r["attributes"] else {}
                scores = json.loads(r["scores"])
                labels = json.loads(r["corrected_labels"] if r["corrected_labels"] is not None else r["model_labels"])
                labels.sort(key=lambda label: -scores.get(label, 0.0))
                evidence = json.loads(r["evidence"] or "{}")
                rows.append({
                    "id": r["id"], "text": r["text"], "language": r["language"],
                    "language_confidence": r["language_confidence"], "labels": labels, "scores": scores,
                    "primary_label": labels[0] if labels else None, "uncertain": r["uncertain"],
                    "evidence": evidence, "model_version": r["model_version"],
                    "taxonomy_version": r["taxonomy_version"], "processed_at": r["processed_at"],
                    "row_number": r["row_number"], **{k: v for k, v in attributes.items() if k not in TAGGED_SCHEMA.names},
                })
        rejected = store.counts()["rejects"]
    if not rows:
        return TAGGED_SCHEMA.empty_table(), rejected
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    return _from_rows([{k: row.get(k) for k in keys} for row in rows]), rejected

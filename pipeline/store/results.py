"""The results store: tagged records with their model and taxonomy versions, history, corrections, runs.

A record id is stored once (``records``); each (model version, taxonomy version) that labelled it
adds one row to ``labelings``, so saving the same record with the same versions again replaces
that row (idempotent) and a new model adds a row beside the old one (history). The current
labels of a record are its most recent labeling; a human correction wins over both.
"""
from __future__ import annotations

import getpass
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from pipeline.records import TAGGED_SCHEMA
from pipeline.store.database import Database, connect, redact_url
from pipeline.store.migrations import migrate

CORE_COLUMNS = set(TAGGED_SCHEMA.names)
RECORD_COLUMNS = ("id", "text", "language", "language_confidence", "source", "row_number", "attributes",
                  "first_seen_at", "last_seen_at")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def current_user() -> str:
    return os.environ.get("CHURNLENS_USER") or getpass.getuser()


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _as_dict(value) -> dict:
    """Arrow map values arrive as lists of (key, value) pairs."""
    if value is None:
        return {}
    return dict(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class PendingRecord:
    """A stored record waiting to be (re-)labelled, with the labeling it currently has."""

    id: str
    text: str
    language: str | None
    language_confidence: float | None
    row_number: int | None
    previous_model_version: str | None
    previous_labels: list[str] | None


class ResultStore:
    """High-level operations over a :class:`Database`; open one with :func:`open_store`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def description(self) -> str:
        return f"{self.db.dialect} store {redact_url(self.db.url)}"

    # -- runs ---------------------------------------------------------------------------------
    def start_run(self, kind: str, source: str | None, model_version: str, taxonomy_version: str) -> str:
        run_id = f"{_now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        with self.db.transaction():
            self.db.execute("INSERT INTO runs (run_id, kind, source, model_version, taxonomy_version, started_at, "
                            "status) VALUES (?, ?, ?, ?, ?, ?, 'running')",
                            [run_id, kind, source, model_version, taxonomy_version, _now()])
        return run_id

    def finish_run(self, run_id: str, read: int, tagged: int, rejected: int, details: dict | None = None,
                   status: str = "completed") -> None:
        with self.db.transaction():
            self.db.execute("UPDATE runs SET finished_at = ?, status = ?, read_count = ?, tagged_count = ?, "
                            "rejected_count = ?, details = ? WHERE run_id = ?",
                            [_now(), status, read, tagged, rejected, _json(details or {}), run_id])

    def runs(self) -> list[dict]:
        rows = self.db.query("SELECT run_id, kind, source, model_version, status, read_count, tagged_count, "
                             "rejected_count, started_at, finished_at FROM runs ORDER BY started_at")
        keys = ("run_id", "kind", "source", "model_version", "status", "read", "tagged", "rejected", "started_at",
                "finished_at")
        return [dict(zip(keys, row)) for row in rows]

    # -- writing tagged records ---------------------------------------------------------------
    def save_tagged(self, tagged: pa.Table, run_id: str | None, source: str | None = None,
                    previous: dict[str, PendingRecord] | None = None) -> None:
        """Store a tagged batch (the layout of ``pipeline.records``): records and their labelings.

        ``previous``: for a re-label, what each record was labelled before (kept as its history).
        """
        if tagged.num_rows == 0:
            return
        now = _now()
        rows = tagged.to_pylist()
        passthrough = [name for name in tagged.column_names if name not in CORE_COLUMNS]
        records = pa.table({
            "id": [r["id"] for r in rows],
            "text": [r["text"] for r in rows],
            "language": [r["language"] for r in rows],
            "language_confidence": pa.array([r["language_confidence"] for r in rows], pa.float64()),
            "source": [source] * len(rows),
            "row_number": pa.array([r["row_number"] for r in rows], pa.int64()),
            "attributes": [json.dumps({k: r[k] for k in passthrough}, ensure_ascii=False, default=str)
                           if passthrough else None for r in rows],  # input column order kept
            "first_seen_at": pa.array([now] * len(rows), pa.timestamp("us", tz="UTC")),
            "last_seen_at": pa.array([now] * len(rows), pa.timestamp("us", tz="UTC")),
        })
        previous = previous or {}
        user = current_user()
        labelings = pa.table({
            "record_id": [r["id"] for r in rows],
            "model_version": [r["model_version"] for r in rows],
            "taxonomy_version": [r["taxonomy_version"] for r in rows],
            "labels": [_json(list(r["labels"] or [])) for r in rows],
            "scores": [_json(_as_dict(r["scores"])) for r in rows],
            "primary_label": pa.array([r["primary_label"] for r in rows], pa.string()),
            "uncertain": pa.array([bool(r["uncertain"]) for r in rows], pa.bool_()),
            "evidence": [_json(_as_dict(r["evidence"])) for r in rows],
            "processed_at": pa.array([r["processed_at"] or now for r in rows], pa.timestamp("us", tz="UTC")),
            "run_id": pa.array([run_id] * len(rows), pa.string()),
            "labeled_by": [user] * len(rows),
            "previous_model_version": pa.array([getattr(previous.get(r["id"]), "previous_model_version", None)
                                                for r in rows], pa.string()),
            "previous_labels": pa.array([_json(p.previous_labels) if (p := previous.get(r["id"])) and
                                         p.previous_labels is not None else None for r in rows], pa.string()),
        })
        with self.db.transaction():
            if previous:  # a re-label: the record itself is unchanged
                self.db.upsert("labelings", labelings, ("record_id", "model_version", "taxonomy_version"))
                return
            self.db.upsert("records", records, ("id",), keep=("first_seen_at",))
            self.db.upsert("labelings", labelings, ("record_id", "model_version", "taxonomy_version"))

    def save_rejects(self, rejects: pa.Table, run_id: str) -> None:
        if rejects.num_rows == 0:
            return
        table = rejects.select(["row_number", "id", "reason", "message", "raw"])
        table = table.append_column("run_id", pa.array([run_id] * table.num_rows, pa.string()))
        with self.db.transaction():
            self.db.insert("rejects", table)

    def labelled_ids(self, ids: list[str], model_version: str, taxonomy_version: str) -> set[str]:
        """Those of ``ids`` already labelled with these versions (a resumed run skips them)."""
        if not ids:
            return set()
        marks = ", ".join("?" * len(ids))
        rows = self.db.query(f"SELECT record_id FROM labelings WHERE model_version = ? AND taxonomy_version = ? "
                             f"AND record_id IN ({marks})", [model_version, taxonomy_version, *ids])
        return {row[0] for row in rows}

    # -- re-labelling -------------------------------------------------------------------------
    def pending(self, model_version: str, taxonomy_version: str, batch_size: int,
                after: str | None = None) -> list[PendingRecord]:
        """The next ``batch_size`` records (by id, after ``after``) with no labeling of these versions."""
        rows = self.db.query(
            "SELECT r.id, r.text, r.language, r.language_confidence, r.row_number, c.model_version, c.labels "
            "FROM records r "
            "LEFT JOIN current_labelings c ON c.record_id = r.id "
            "WHERE r.id > ? AND NOT EXISTS (SELECT 1 FROM labelings l WHERE l.record_id = r.id "
            "AND l.model_version = ? AND l.taxonomy_version = ?) ORDER BY r.id LIMIT ?",
            [after or "", model_version, taxonomy_version, batch_size])
        return [PendingRecord(*row[:-1], json.loads(row[-1]) if row[-1] is not None else None) for row in rows]

    def count_pending(self, model_version: str, taxonomy_version: str) -> int:
        return int(self.db.query(
            "SELECT count(*) FROM records r WHERE NOT EXISTS (SELECT 1 FROM labelings l WHERE l.record_id = r.id "
            "AND l.model_version = ? AND l.taxonomy_version = ?)", [model_version, taxonomy_version])[0][0])

    def label_changes(self, model_version: str, taxonomy_version: str) -> list[tuple[str, str, int, int]]:
        """(label, language, added, removed) for every record labelled with these versions against
        the labels it had before; records that had no earlier labeling are not counted."""
        rows = self.db.query(
            "SELECT r.language, l.labels, l.previous_labels FROM labelings l JOIN records r ON r.id = l.record_id "
            "WHERE l.model_version = ? AND l.taxonomy_version = ? AND l.previous_labels IS NOT NULL",
            [model_version, taxonomy_version])
        counts: dict[tuple[str, str], list[int]] = {}
        for language, new, old in rows:
            new_set, old_set = set(json.loads(new)), set(json.loads(old))
            for label in new_set - old_set:
                counts.setdefault((label, language), [0, 0])[0] += 1
            for label in old_set - new_set:
                counts.setdefault((label, language), [0, 0])[1] += 1
        return sorted((label, lang, a, r) for (label, lang), (a, r) in counts.items())

    def history(self, record_id: str) -> list[dict]:
        """Every labeling of one record, oldest first, with who made it and when."""
        rows = self.db.query("SELECT model_version, taxonomy_version, labels, processed_at, labeled_by, run_id "
                             "FROM labelings WHERE record_id = ? ORDER BY processed_at", [record_id])
        keys = ("model_version", "taxonomy_version", "labels", "processed_at", "labeled_by", "run_id")
        return [dict(zip(keys, row), labels=json.loads(row[2])) for row in rows]

    # -- human review -------------------------------------------------------------------------
    def add_corrections(self, corrections: Iterable[tuple[str, list[str], str | None, str | None]]) -> int:
        """Store (record id, labels, reviewer, note) corrections; unknown record ids raise."""
        items = list(corrections)
        if not items:
            return 0
        ids = [c[0] for c in items]
        known = self.known_ids(ids)
        unknown = [i for i in ids if i not in known]
        if unknown:
            from pipeline.store.database import StoreError

            raise StoreError(f"{len(unknown)} corrected ids are not in the store (first: {unknown[0]!r}); "
                             "was the review file made from another store?")
        now = _now()
        current = dict(self.db.query(
            f"SELECT record_id, model_version FROM current_labelings WHERE record_id IN ({', '.join('?' * len(ids))})",
            ids))
        table = pa.table({
            "record_id": ids,
            "labels": [_json(sorted(c[1])) for c in items],
            "reviewer": pa.array([c[2] for c in items], pa.string()),
            "note": pa.array([c[3] for c in items], pa.string()),
            "corrected_at": pa.array([now] * len(items), pa.timestamp("us", tz="UTC")),
            "model_version": pa.array([current.get(i) for i in ids], pa.string()),
        })
        with self.db.transaction():
            self.db.upsert("corrections", table, ("record_id", "corrected_at"))
        return len(items)

    def known_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 1000):
            chunk = ids[start:start + 1000]
            found |= {r[0] for r in self.db.query(
                f"SELECT id FROM records WHERE id IN ({', '.join('?' * len(chunk))})", chunk)}
        return found

    def corrected_examples(self) -> list[dict]:
        """Human-corrected records as training examples: ``{"text", "labels", "lang"}``."""
        rows = self.db.query("SELECT r.text, c.labels, r.language FROM current_corrections c "
                             "JOIN records r ON r.id = c.record_id ORDER BY r.id")
        return [{"text": text, "labels": json.loads(labels), "lang": lang} for text, labels, lang in rows]

    # -- watched folders ----------------------------------------------------------------------
    def file_ingested(self, sha256: str) -> bool:
        return bool(self.db.query("SELECT count(*) FROM ingested_files WHERE sha256 = ?", [sha256])[0][0])

    def mark_file_ingested(self, sha256: str, path: str | Path, run_id: str | None) -> None:
        with self.db.transaction():
            self.db.upsert("ingested_files", pa.table({
                "sha256": [sha256], "path": [str(path)], "run_id": pa.array([run_id], pa.string()),
                "ingested_at": pa.array([_now()], pa.timestamp("us", tz="UTC"))}), ("sha256",))

    # -- reading ------------------------------------------------------------------------------
    def current_records(self, batch_size: int = 10_000, uncertain_only: bool = False) -> Iterator[pa.Table]:
        """Every record with its current labels (a correction wins over the model), in id order, as
        Arrow tables of ``batch_size`` rows: the input of exports, reviews and reports."""
        after = ""
        while True:
            table = self.db.query_arrow(
                "SELECT r.id, r.text, r.language, r.language_confidence, r.source, r.row_number, r.attributes, "
                "l.model_version, l.taxonomy_version, l.labels AS model_labels, l.scores, l.primary_label, "
                "l.uncertain, l.evidence, l.processed_at, c.labels AS corrected_labels, c.reviewer, c.corrected_at "
                "FROM records r JOIN current_labelings l ON l.record_id = r.id "
                "LEFT JOIN current_corrections c ON c.record_id = r.id "
                f"WHERE r.id > ? {'AND l.uncertain' if uncertain_only else ''} ORDER BY r.id LIMIT ?",
                [after, batch_size])
            if table.num_rows == 0:
                return
            yield table
            after = table.column("id")[-1].as_py()
            if table.num_rows < batch_size:
                return

    def attribute_names(self) -> list[str]:
        """Names of the pass-through columns stored with any record, in first-seen order."""
        names: dict[str, None] = {}
        after = ""
        while rows := self.db.query("SELECT id, attributes FROM records WHERE id > ? AND attributes IS NOT NULL "
                                    "ORDER BY id LIMIT 10000", [after]):
            for _, attributes in rows:
                names.update(dict.fromkeys(json.loads(attributes)))
            after = rows[-1][0]
        return list(names)

    def counts(self) -> dict[str, int]:
        tables = ("records", "labelings", "corrections", "rejects", "runs", "ingested_files")
        return {t: int(self.db.query(f"SELECT count(*) FROM {t}")[0][0]) for t in tables}

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_store(url: str | Path) -> ResultStore:
    """Open (creating and migrating if needed) the store at ``url`` (see :func:`database.connect`)."""
    db = connect(url)
    try:
        migrate(db)
    except Exception:
        db.close()
        raise
    return ResultStore(db)

"""BI exports of the results store, following the data contract in ``pipeline/contracts/``.

Three shapes from one stream of current records: Hive-partitioned Parquet, Excel-safe CSV, and
wide + long tables with a ``churnlens_reasons`` view inside DuckDB or PostgreSQL.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import yaml

from pipeline.store.database import Database, quote_ident
from pipeline.store.results import ResultStore
from pipeline.taxonomy import Taxonomy

CONTRACT_PATH = Path(__file__).resolve().parent / "contracts" / "bi_export.v1.yaml"
ARROW_TYPES = {"string": pa.string(), "double": pa.float64(), "int64": pa.int64(), "int32": pa.int32(),
               "bool": pa.bool_(), "timestamp[us, tz=UTC]": pa.timestamp("us", tz="UTC")}
SQL_TYPES = {pa.string(): "TEXT", pa.float64(): "FLOAT8", pa.int64(): "BIGINT", pa.int32(): "INTEGER",
             pa.bool_(): "BOOLEAN", pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ"}
VIEW_COLUMNS = ("reason", "reason_name", "reason_score")
DATE_FORMATS = ("%d.%m.%Y", "%d/%m/%Y", "%Y/%m/%d", "%m/%d/%Y", "%Y年%m月%d日")


@lru_cache(maxsize=1)
def load_contract(path: Path = CONTRACT_PATH) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _fields(columns: list[dict]) -> list[pa.Field]:
    return [pa.field(c["name"], ARROW_TYPES[c["type"]], nullable=c.get("nullable", True)) for c in columns]


def sql_name(name: str) -> str:
    """A column name every BI tool and SQL engine accepts: lower case, letters, digits and '_'."""
    clean = re.sub(r"[^0-9a-z_]+", "_", name.strip().lower()).strip("_") or "column"
    return clean if clean[0].isalpha() or clean[0] == "_" else f"c_{clean}"


@dataclass(frozen=True)
class ExportLayout:
    """The column layout of one export: contract columns, label columns and pass-through columns."""

    wide: pa.Schema
    long: pa.Schema
    labels: tuple[str, ...]
    attributes: dict[str, str]  # original pass-through name -> exported column name

    @classmethod
    def build(cls, taxonomy: Taxonomy, attribute_names: list[str]) -> "ExportLayout":
        contract = load_contract()["tables"]
        fixed = _fields(contract["wide"]["columns"])
        labels = tuple(taxonomy.ids)
        per_label = []
        for label in labels:
            for template in contract["wide"]["per_label_columns"]:
                per_label.append(pa.field(template["name"].format(label=label), ARROW_TYPES[template["type"]]))
        taken = {f.name for f in fixed + per_label} | set(VIEW_COLUMNS)
        attributes: dict[str, str] = {}
        for name in attribute_names:
            column = sql_name(name)
            while column in taken:
                column = f"input_{column}"
            taken.add(column)
            attributes[name] = column
        wide = pa.schema(fixed + per_label + [pa.field(c, pa.string()) for c in attributes.values()])
        return cls(wide, pa.schema(_fields(contract["long"]["columns"])), labels, attributes)


def month_of(value: object, fallback: datetime | None) -> str | None:
    """``YYYY-MM`` of a date given as text in a common format; ``fallback``'s month when unparseable."""
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).strftime("%Y-%m")
        except ValueError:
            for fmt in DATE_FORMATS:
                try:
                    return datetime.strptime(text[:10] if fmt != "%Y年%m月%d日" else text, fmt).strftime("%Y-%m")
                except ValueError:
                    continue
    return fallback.strftime("%Y-%m") if fallback else None


def wide_tables(store: ResultStore, taxonomy: Taxonomy, date_column: str | None = None,
                batch_size: int = 10_000) -> tuple[ExportLayout, Iterator[pa.Table]]:
    """The layout, and the current records as wide tables of ``batch_size`` rows."""
    layout = ExportLayout.build(taxonomy, store.attribute_names())
    if date_column and date_column not in layout.attributes:
        raise ValueError(f"no pass-through column {date_column!r} to date records by; the records have: "
                         f"{', '.join(layout.attributes) or '(none)'}")
    return layout, (_to_wide(batch, layout, date_column) for batch in store.current_records(batch_size))


def _to_wide(batch: pa.Table, layout: ExportLayout, date_column: str | None) -> pa.Table:
    rows = batch.to_pylist()
    columns: dict[str, list] = {name: [] for name in layout.wide.names}
    for row in rows:
        attributes = json.loads(row["attributes"]) if row["attributes"] else {}
        scores = json.loads(row["scores"])
        corrected = row["corrected_labels"] is not None
        labels = json.loads(row["corrected_labels"] if corrected else row["model_labels"])
        labels = sorted(labels, key=lambda label: -scores.get(label, 0.0))
        when = attributes.get(date_column) if date_column else None
        values = {
            "record_id": row["id"], "text": row["text"], "language": row["language"],
            "language_confidence": row["language_confidence"], "source": row["source"],
            "row_number": row["row_number"], "month": month_of(when, row["processed_at"]),
            "reasons": "; ".join(labels), "n_reasons": len(labels), "primary_reason": labels[0] if labels else None,
            "label_source": "review" if corrected else "model", "uncertain": row["uncertain"],
            "reviewer": row["reviewer"], "model_version": row["model_version"],
            "taxonomy_version": row["taxonomy_version"], "processed_at": row["processed_at"],
        }
        for label in layout.labels:
            values[label] = label in labels
            values[f"{label}_score"] = scores.get(label)
        for name, column in layout.attributes.items():
            value = attributes.get(name)
            values[column] = None if value is None else str(value)
        for name in layout.wide.names:
            columns[name].append(values[name])
    return pa.Table.from_pydict(columns, schema=layout.wide)


def long_table(wide: pa.Table, layout: ExportLayout, taxonomy: Taxonomy) -> pa.Table:
    """One row per record and label, from a wide table."""
    n = wide.num_rows
    parts = []
    for label in layout.labels:
        parts.append(pa.table({
            "record_id": wide["record_id"], "language": wide["language"], "month": wide["month"],
            "label": pa.array([label] * n, pa.string()),
            "label_name": pa.array([taxonomy[label].display_name("en")] * n, pa.string()),
            "score": wide[f"{label}_score"], "assigned": wide[label], "label_source": wide["label_source"],
            "model_version": wide["model_version"],
        }, schema=layout.long))
    return pa.concat_tables(parts) if parts else layout.long.empty_table()


@dataclass
class ExportResult:
    rows: int
    target: str
    files: int = 0


def export_parquet(store: ResultStore, taxonomy: Taxonomy, out_dir: str | Path,
                   date_column: str | None = None) -> ExportResult:
    """Hive-partitioned Parquet (``month=YYYY-MM/language=xx/``), replacing the partitions it writes."""
    import pyarrow.dataset as ds

    layout, tables = wide_tables(store, taxonomy, date_column)
    partitioning = load_contract()["tables"]["wide"]["partitioning"]
    rows = {"n": 0}

    def batches() -> Iterator[pa.RecordBatch]:
        for table in tables:
            rows["n"] += table.num_rows
            yield from table.to_batches()

    out_dir = Path(out_dir)
    ds.write_dataset(batches(), out_dir, schema=layout.wide, format="parquet", partitioning=partitioning,
                     partitioning_flavor="hive", existing_data_behavior="delete_matching",
                     basename_template="part-{i}.parquet")
    files = len(list(out_dir.rglob("*.parquet")))
    return ExportResult(rows["n"], str(out_dir), files)


def export_csv(store: ResultStore, taxonomy: Taxonomy, path: str | Path, date_column: str | None = None) -> ExportResult:
    """The wide table as CSV for Excel: UTF-8 with a BOM, formula-like cells neutralised."""
    from pipeline.writers import CsvSink

    layout, tables = wide_tables(store, taxonomy, date_column)
    with CsvSink(path, layout.wide) as sink:
        for table in tables:
            sink.write(table)
    return ExportResult(sink.rows, str(path), 1)


def export_sql(store: ResultStore, taxonomy: Taxonomy, target: Database | None = None,
               date_column: str | None = None) -> ExportResult:
    """Replace ``churnlens_wide``, ``churnlens_long`` and the ``churnlens_reasons`` view in ``target``
    (default: the store's own database) in one transaction: BI readers never see a half export."""
    db = target or store.db
    contract = load_contract()
    wide_name, long_name = (contract["tables"][t]["sql_name"] for t in ("wide", "long"))
    view = next(iter(contract["views"]))
    layout, tables = wide_tables(store, taxonomy, date_column)
    rows = 0
    with db.transaction():
        db.execute(f"DROP VIEW IF EXISTS {quote_ident(view)}")
        for name, schema in ((wide_name, layout.wide), (long_name, layout.long)):
            db.execute(f"DROP TABLE IF EXISTS {quote_ident(name)}")
            columns = ", ".join(f"{quote_ident(f.name)} {SQL_TYPES[f.type]}{'' if f.nullable else ' NOT NULL'}"
                                for f in schema)
            db.execute(f"CREATE TABLE {quote_ident(name)} ({columns})")
        for table in tables:
            db.insert(wide_name, table)
            db.insert(long_name, long_table(table, layout, taxonomy))
            rows += table.num_rows
        db.execute(f"CREATE VIEW {quote_ident(view)} AS SELECT w.*, coalesce(l.label, '(none)') AS reason, "
                   f"l.label_name AS reason_name, l.score AS reason_score FROM {quote_ident(wide_name)} w "
                   f"LEFT JOIN {quote_ident(long_name)} l ON l.record_id = w.record_id AND l.assigned")
    return ExportResult(rows, f"{db.dialect}: {wide_name}, {long_name}, view {view}")

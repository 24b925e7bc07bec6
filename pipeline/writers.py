"""Write Arrow tables to Parquet, CSV (UTF-8 with BOM, for Excel) or JSONL, chosen by file extension.

Every sink writes to a temporary file beside the target and renames it into place on success,
so a crashed run never leaves a half-written output behind.
"""
from __future__ import annotations

import csv
import json
import os
import tempfile
from datetime import datetime
from pathlib import Path

import pyarrow as pa


def _plain(value: object) -> object:
    """Arrow Python values to JSON-friendly ones (maps arrive as lists of key/value tuples)."""
    if isinstance(value, list) and value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
        return {k: v for k, v in value}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class Sink:
    """Base class: atomic file creation; subclasses implement ``_open``, ``_write`` and ``_close``."""

    def __init__(self, path: str | Path, schema: pa.Schema | None = None) -> None:
        self.path = Path(path)
        self.schema = schema
        self.rows = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        os.close(fd)
        self._tmp = Path(tmp)
        self._opened = False

    def write(self, table: pa.Table) -> None:
        if not self._opened:
            if self.schema is None or table.num_columns:
                self.schema = table.schema
            self._open()
            self._opened = True
        self._write(table)
        self.rows += table.num_rows

    def close(self) -> Path:
        if not self._opened:
            self._open()
            self._opened = True
        self._close()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        try:
            self._close()
        except Exception:  # noqa: BLE001 - the file is discarded anyway
            pass
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "Sink":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _open(self) -> None: ...
    def _write(self, table: pa.Table) -> None: ...
    def _close(self) -> None: ...


class ParquetSink(Sink):
    def _open(self) -> None:
        import pyarrow.parquet as pq

        self._writer = pq.ParquetWriter(self._tmp, self.schema or pa.schema([]), compression="zstd")

    def _write(self, table: pa.Table) -> None:
        if table.num_rows:
            self._writer.write_table(table.cast(self.schema) if table.schema != self.schema else table)

    def _close(self) -> None:
        if getattr(self, "_writer", None) is not None:
            self._writer.close()
            self._writer = None


class CsvSink(Sink):
    """UTF-8 with a BOM so that Excel shows Japanese; lists and maps as JSON text."""

    def _open(self) -> None:
        self._fh = open(self._tmp, "w", encoding="utf-8-sig", newline="")
        self._csv = csv.writer(self._fh)
        self._csv.writerow(self.schema.names if self.schema else [])

    def _write(self, table: pa.Table) -> None:
        for row in table.to_pylist():
            self._csv.writerow([_cell(v) for v in row.values()])

    def _close(self) -> None:
        if getattr(self, "_fh", None) is not None and not self._fh.closed:
            self._fh.close()


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    """A CSV cell; text that Excel would run as a formula (``=HYPERLINK(…)``) gets a leading ``'``."""
    value = _plain(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return "" if value is None else value


def unguard(cell: str) -> str:
    """The original text of a CSV cell written by :class:`CsvSink`."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_START) else cell


class JsonlSink(Sink):
    def _open(self) -> None:
        self._fh = open(self._tmp, "w", encoding="utf-8")

    def _write(self, table: pa.Table) -> None:
        for row in table.to_pylist():
            self._fh.write(json.dumps({k: _plain(v) for k, v in row.items()}, ensure_ascii=False) + "\n")

    def _close(self) -> None:
        if getattr(self, "_fh", None) is not None and not self._fh.closed:
            self._fh.close()


SINKS: dict[str, type[Sink]] = {".parquet": ParquetSink, ".csv": CsvSink, ".jsonl": JsonlSink}


def open_sink(path: str | Path, schema: pa.Schema | None = None) -> Sink:
    """A sink for ``path``, chosen by its extension."""
    suffix = Path(path).suffix.lower()
    if suffix not in SINKS:
        raise ValueError(f"cannot write {Path(path).name}: use one of {', '.join(SINKS)} as the extension")
    return SINKS[suffix](path, schema)

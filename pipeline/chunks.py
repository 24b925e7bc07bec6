"""Split a feedback file into chunks, tag each chunk on its own, merge the parts. No Prefect here.

This is the library side of the Prefect flow (``flows/tag_feedback.py``), which runs one task per
chunk, locally or on Dask workers. Everything lives in one work folder (the flow uses ``OUTPUT.parts/``):

    plan.json               the split is complete (written last, so its presence means "done")
    input-00000.parquet     at most ``chunk_size`` valid records: __id__, __text__, __row_number__
                            and the input's pass-through columns
    ingest-rejects.parquet  rows refused while reading (empty text, bad encoding, duplicate id, …)
    tagged-00000.parquet    a tagged chunk; written atomically, so a part that exists is complete
    failed-00000.parquet    the records of a chunk whose tagging failed, as ``processing_error`` rejects

Memory stays flat in the input size: at most one chunk is held while splitting, one batch while
tagging and one part while merging. On a real cluster the work folder must be on storage every
worker sees at the same path.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.checkpoint import file_identity
from pipeline.config import CHUNK_SIZE
from pipeline.errors import InputError
from pipeline.ingest import DEFAULT_BATCH_SIZE, InputBatch, Reject, read_records
from pipeline.records import REJECT_SCHEMA, TAGGED_SCHEMA, rejects_table
from pipeline.redact import redact_rejects
from pipeline.run import tag_batch, write_parts
from pipeline.summary import RunSummary
from pipeline.writers import open_sink

ID, TEXT, ROW = "__id__", "__text__", "__row_number__"
RECORD_COLUMNS = (ID, TEXT, ROW)
PLAN_FILE = "plan.json"
INGEST_REJECTS = "ingest-rejects.parquet"


@dataclass(frozen=True)
class ChunkPlan:
    """The chunk files of a split input, the ingest rejects, and how many records went where."""

    chunks: list[str]
    rejects: str
    records: int
    rejected: int

    @property
    def tagged_parts(self) -> list[str]:
        """Where each chunk's tagged records go, in chunk order."""
        return [_sibling(chunk, "tagged") for chunk in self.chunks]

    @property
    def failed_parts(self) -> list[str]:
        """Where each chunk's records go as rejects if tagging it fails."""
        return [_sibling(chunk, "failed") for chunk in self.chunks]

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> "ChunkPlan":
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def _sibling(chunk: str, kind: str) -> str:
    path = Path(chunk)
    return str(path.with_name(path.name.replace("input-", f"{kind}-", 1)))


def work_fingerprint(input_path: str | Path, model_dir: str | Path, labels: str | Path, **settings) -> dict:
    """What the files in a work folder depend on: the input, the model files, labels.yaml and the settings."""
    model_dir = Path(model_dir)
    model_files = sorted(p for p in model_dir.iterdir() if p.is_file()) if model_dir.is_dir() else []
    return {"input": file_identity(input_path), "model": [file_identity(p) for p in model_files],
            "labels": file_identity(labels), **settings}


def split_input(input_path: str | Path, work_dir: str | Path, text_column: str | None = None,
                id_column: str | None = None, encoding: str | None = None, chunk_size: int = CHUNK_SIZE,
                *, redact: bool = False) -> ChunkPlan:
    """Stream ``input_path`` into chunk files of at most ``chunk_size`` valid records, plus the ingest rejects.

    With ``redact`` the rejects' raw values are redacted here (the records' texts are redacted when
    tagged, once their language is known). A work folder that already holds a complete split is reused.
    """
    work_dir = Path(work_dir)
    if (work_dir / PLAN_FILE).exists():
        return ChunkPlan.load(work_dir / PLAN_FILE)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1 record, got {chunk_size}")
    work_dir.mkdir(parents=True, exist_ok=True)
    chunks: list[str] = []
    pending: list[pa.Table] = []
    pending_rows = records = 0

    def flush() -> None:
        path = work_dir / f"input-{len(chunks):05d}.parquet"
        pq.write_table(pa.concat_tables(pending, promote_options="default"), path)
        chunks.append(str(path))
        pending.clear()

    rejects_path = work_dir / INGEST_REJECTS
    with open_sink(rejects_path, REJECT_SCHEMA) as rejects:
        for batch in read_records(input_path, text_column, id_column, encoding, min(chunk_size, DEFAULT_BATCH_SIZE)):
            rejects.write(rejects_table(redact_rejects(batch.rejects) if redact else batch.rejects))
            table = _records_table(batch, Path(input_path))
            records += table.num_rows
            while table.num_rows:
                take = min(chunk_size - pending_rows, table.num_rows)
                pending.append(table.slice(0, take))
                pending_rows += take
                table = table.slice(take)
                if pending_rows == chunk_size:
                    flush()
                    pending_rows = 0
        if pending_rows:
            flush()
    plan = ChunkPlan(chunks, str(rejects_path), records, rejects.rows)
    plan.save(work_dir / PLAN_FILE)
    return plan


def _records_table(batch: InputBatch, path: Path) -> pa.Table:
    clash = [name for name in batch.passthrough.column_names if name in RECORD_COLUMNS]
    if clash:
        raise InputError(f"column {clash[0]!r} in {path.name} clashes with a name churnlens uses internally; "
                         f"rename it in the input")
    table = pa.table({ID: pa.array(batch.ids, pa.string()), TEXT: pa.array(batch.texts, pa.string()),
                      ROW: pa.array(batch.row_numbers, pa.int64())})
    for name, column in zip(batch.passthrough.column_names, batch.passthrough.columns):
        table = table.append_column(name, column)
    return table


def read_chunk(chunk_path: str | Path, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[InputBatch]:
    """The records of a chunk file, back as InputBatches of at most ``batch_size``."""
    with pq.ParquetFile(chunk_path) as chunk:
        for record_batch in chunk.iter_batches(batch_size=batch_size):
            table = pa.Table.from_batches([record_batch])
            yield InputBatch(ids=table.column(ID).to_pylist(), texts=table.column(TEXT).to_pylist(),
                             row_numbers=table.column(ROW).to_pylist(),
                             passthrough=table.drop_columns(list(RECORD_COLUMNS)))


def tag_chunk(chunk_path: str | Path, out_path: str | Path, tagger, redact: bool = False) -> dict[str, int]:
    """Tag one chunk into the Parquet part ``out_path``, batch by batch: ``{"tagged": n, "resumed": 0}``.

    The part is written atomically, so a part that already exists is complete: it is kept, not redone
    (``"resumed": 1``), which is how a re-run after an interruption skips finished chunks.
    """
    out_path = Path(out_path)
    if out_path.exists():
        return {"tagged": pq.ParquetFile(out_path).metadata.num_rows, "resumed": 1}
    tagged = 0
    with open_sink(out_path, TAGGED_SCHEMA) as sink:
        for batch in read_chunk(chunk_path):
            table, _ = tag_batch(batch, tagger, redact)
            sink.write(table)
            tagged += table.num_rows
    return {"tagged": tagged, "resumed": 0}


def reject_chunk(chunk_path: str | Path, out_path: str | Path, message: str, redact: bool = False) -> int:
    """Write every record of a chunk that could not be tagged as a ``processing_error`` reject; returns how many."""
    with open_sink(out_path, REJECT_SCHEMA) as sink:
        for batch in read_chunk(chunk_path):
            rejects = [Reject(row, "processing_error", message, rid, text)
                       for rid, text, row in zip(batch.ids, batch.texts, batch.row_numbers)]
            sink.write(rejects_table(redact_rejects(rejects) if redact else rejects))
    return sink.rows


def merge_parts(tagged_parts: list[str | Path], reject_parts: list[str | Path], output: str | Path,
                rejects_path: str | Path) -> RunSummary:
    """Stream the parts into the final outputs (format by extension) and count them into a RunSummary."""
    summary = RunSummary()
    write_parts([Path(p) for p in tagged_parts], [Path(p) for p in reject_parts], Path(output), Path(rejects_path),
                summary)
    summary.outputs = {"tagged": str(output), "rejects": str(rejects_path)}
    return summary

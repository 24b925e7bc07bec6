"""The main job as a library call: read a file, tag every record, write tagged records and rejects."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.checkpoint import Checkpoints, file_identity
from pipeline.ingest import DEFAULT_BATCH_SIZE, InputBatch, read_records
from pipeline.redact import redact_batch
from pipeline.records import REJECT_SCHEMA, TAGGED_SCHEMA, rejects_table
from pipeline.summary import RunSummary
from pipeline.writers import open_sink


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with the columns of ``schema`` in its order (missing pass-through columns as nulls)."""
    columns = [table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
               for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def default_rejects_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}.rejects{output.suffix}")


def tag_batch(batch: InputBatch, tagger, redact: bool = False) -> tuple[pa.Table, pa.Table]:
    """The tagged records and the rejects of one batch (texts and raw values redacted first if asked)."""
    languages = tagger.detect(batch.texts)
    if redact:
        batch = redact_batch(batch, languages)
    tagged = tagger.tag(batch, languages) if len(batch) else TAGGED_SCHEMA.empty_table()
    return tagged, rejects_table(batch.rejects)


def write_parts(tagged_parts: list[Path], reject_parts: list[Path], output_path: Path, rejects_path: Path,
                summary: RunSummary | None = None) -> None:
    """Stream Parquet parts, one at a time, into the final outputs (any format ``open_sink`` writes).

    Pass-through columns are unified over all parts; a part without one gets nulls. With ``summary``,
    every part is also counted into it.
    """
    schema = pa.unify_schemas([TAGGED_SCHEMA, *(pq.read_schema(p) for p in tagged_parts)])
    with open_sink(output_path, schema) as out, open_sink(rejects_path, REJECT_SCHEMA) as rej:
        for part in tagged_parts:
            table = conform(pq.read_table(part), schema)
            out.write(table)
            if summary is not None:
                summary.add_tagged(table)
        for part in reject_parts:
            table = pq.read_table(part)
            rej.write(table)
            if summary is not None:
                summary.add_reject_table(table)


def classify_file(
    input_path: str | Path,
    output_path: str | Path,
    tagger,
    rejects_path: str | Path | None = None,
    text_column: str | None = None,
    id_column: str | None = None,
    encoding: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: Callable[[int], None] | None = None,
    redact: bool = False,
    store=None,
) -> RunSummary:
    """Tag ``input_path`` into ``output_path`` (format by extension); rejects go beside it unless given.

    Every batch is checkpointed: if the run is killed, running it again resumes where it stopped.
    With ``redact``, e-mail addresses, phone numbers, card numbers and IBANs are replaced by placeholders
    in the texts (before classification) and in the rejects' raw values. With ``store`` (a
    ``pipeline.store.ResultStore``), every batch is also saved there as one run.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    rejects_path = Path(rejects_path) if rejects_path else default_rejects_path(output_path)
    fingerprint = {"input": file_identity(input_path), "text": text_column, "id": id_column, "encoding": encoding,
                   "batch": batch_size, "redact": redact, "model": tagger.model_version,
                   "taxonomy": tagger.taxonomy.version, "detector": tagger.detector,
                   "precision": tagger.precision, "evidence": tagger.with_evidence,
                   "evidence_candidates": tagger.evidence_candidates}
    summary = RunSummary()
    run_id = store.start_run("tag", str(input_path), tagger.model_version, tagger.taxonomy.version) if store else None
    with Checkpoints(output_path, fingerprint) as checkpoints:
        for index, batch in enumerate(read_records(input_path, text_column, id_column, encoding, batch_size)):
            if checkpoints.done(index):
                tagged, rejects = checkpoints.load("tagged", index), checkpoints.load("rejects", index)
                summary.resumed_batches += 1
            else:
                tagged, rejects = tag_batch(batch, tagger, redact)
                checkpoints.save(index, tagged, rejects)
            if store is not None:
                store.save_tagged(tagged, run_id, source=input_path.name)
                store.save_rejects(rejects, run_id)
            summary.add_tagged(tagged)
            summary.add_reject_table(rejects)
            if on_batch:
                on_batch(tagged.num_rows + rejects.num_rows)
        write_parts(checkpoints.parts("tagged"), checkpoints.parts("rejects"), output_path, rejects_path)
        checkpoints.clear()
    summary.outputs = {"tagged": str(output_path), "rejects": str(rejects_path)}
    if store is not None:
        store.finish_run(run_id, summary.read, summary.tagged, summary.rejected, details=summary.as_dict())
        summary.outputs["store"] = store.description
    return summary

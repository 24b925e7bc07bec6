"""The main job as a library call: read a file, tag every record, write tagged records and rejects."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipeline.ingest import DEFAULT_BATCH_SIZE, read_records
from pipeline.records import REJECT_SCHEMA, TAGGED_SCHEMA, rejects_table
from pipeline.summary import RunSummary
from pipeline.writers import open_sink


def default_rejects_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}.rejects{output.suffix}")


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
) -> RunSummary:
    """Tag ``input_path`` into ``output_path`` (format by extension); rejects go beside it unless given."""
    output_path = Path(output_path)
    rejects_path = Path(rejects_path) if rejects_path else default_rejects_path(output_path)
    summary = RunSummary()
    with open_sink(output_path, TAGGED_SCHEMA) as out, open_sink(rejects_path, REJECT_SCHEMA) as rej:
        for batch in read_records(input_path, text_column, id_column, encoding, batch_size):
            if len(batch):
                table = tagger.tag(batch)
                out.write(table)
                summary.add_tagged(table)
            if batch.rejects:
                rej.write(rejects_table(batch.rejects))
                summary.add_rejects(batch.rejects)
            if on_batch:
                on_batch(len(batch) + len(batch.rejects))
    summary.outputs = {"tagged": str(output_path), "rejects": str(rejects_path)}
    return summary

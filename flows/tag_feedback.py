"""The main job as a Prefect flow: read → detect language → classify → write.

Each task is one call into the library; the model is loaded once per process, inside the
tasks (never passed as an argument, which would break Prefect's caching and persistence).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.states import Completed

from pipeline.config import DEFAULT_DETECTOR, DEFAULT_LABELS, DEFAULT_MODEL_DIR
from pipeline.ingest import InputBatch, Reject, read_records
from pipeline.records import REJECT_SCHEMA, TAGGED_SCHEMA, rejects_table
from pipeline.run import default_rejects_path
from pipeline.summary import RunSummary
from pipeline.writers import open_sink


@lru_cache(maxsize=4)
def _tagger(model_dir: str, labels: str, detector: str):
    from pipeline.tagging import Tagger

    return Tagger.load(model_dir, labels, detector)


@task(retries=2, retry_delay_seconds=[2, 10])
def read_input(path: str, text_column: str | None, id_column: str | None, encoding: str | None) -> list[InputBatch]:
    return list(read_records(path, text_column, id_column, encoding))


@task
def detect_language(batch: InputBatch, model_dir: str, labels: str, detector: str) -> list[tuple[str, float]]:
    return _tagger(model_dir, labels, detector).detect(batch.texts)


@task
def classify(batch: InputBatch, languages: list[tuple[str, float]], model_dir: str, labels: str, detector: str):
    return _tagger(model_dir, labels, detector).tag(batch, languages)


@task(retries=2, retry_delay_seconds=[2, 10])
def write_output(tables: list, rejects: list, output: str, rejects_path: str) -> None:
    with open_sink(output, TAGGED_SCHEMA) as sink:
        for table in tables:
            sink.write(table)
    with open_sink(rejects_path, REJECT_SCHEMA) as sink:
        if rejects:
            sink.write(rejects_table(rejects))


def _failed_batch_rejects(batch: InputBatch, error: str) -> list[Reject]:
    """A batch whose tagging failed is not dropped: its records go to the rejects with the error."""
    return [Reject(row, "processing_error", error, rid, text)
            for rid, text, row in zip(batch.ids, batch.texts, batch.row_numbers)]


@flow(name="tag-feedback", log_prints=True)
def tag_feedback(input_path: str, output_path: str, rejects_path: str | None = None,
                 text_column: str | None = None, id_column: str | None = None, encoding: str | None = None,
                 detector: str = DEFAULT_DETECTOR, model_dir: str = str(DEFAULT_MODEL_DIR),
                 labels: str = str(DEFAULT_LABELS)):
    """Tag a feedback file; writes tagged records and rejects. The final state's message gives the counts."""
    rejects_path = rejects_path or str(default_rejects_path(Path(output_path)))
    batches = read_input(input_path, text_column, id_column, encoding)
    summary = RunSummary()
    tables, rejects = [], []
    for batch in batches:
        if len(batch):
            languages = detect_language(batch, model_dir, labels, detector)
            state = classify(batch, languages, model_dir, labels, detector, return_state=True)
            if state.is_completed():
                table = state.result()
                tables.append(table)
                summary.add_tagged(table)
            else:
                rejects.extend(_failed_batch_rejects(batch, f"tagging failed: {state.message}"))
        rejects.extend(batch.rejects)
    summary.add_reject_table(rejects_table(rejects))
    write_output(tables, rejects, output_path, rejects_path)
    summary.outputs = {"tagged": output_path, "rejects": rejects_path}
    message = f"read {summary.read} = tagged {summary.tagged} + rejected {summary.rejected}"
    get_run_logger().info(message)
    return Completed(message=message, data=summary)

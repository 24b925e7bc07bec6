"""Prefect flow for scheduled runs: tag the new files of a watched folder into a results store."""
from __future__ import annotations

from functools import lru_cache

from prefect import flow, get_run_logger, task
from prefect.states import Completed

from pipeline.config import DEFAULT_DETECTOR, DEFAULT_LABELS, DEFAULT_MODEL_DIR


@lru_cache(maxsize=4)
def _tagger(model_dir: str, labels: str, detector: str):
    from pipeline.tagging import Tagger

    return Tagger.load(model_dir, labels, detector)


@task(retries=2, retry_delay_seconds=[5, 30])
def process(inbox: str, store: str, processed_dir: str | None, failed_dir: str | None, text_column: str | None,
            id_column: str | None, redact: bool, min_age_seconds: float, model_dir: str, labels: str,
            detector: str) -> dict:
    """Open the store, tag what is new, close the store (so other processes can use a DuckDB file)."""
    from pipeline.inbox import pending_files, process_inbox
    from pipeline.store import open_store

    if not pending_files(inbox, min_age_seconds):
        return {"message": "no new files", "tagged_files": []}
    with open_store(store) as results:
        result = process_inbox(inbox, results, _tagger(model_dir, labels, detector), processed_dir, failed_dir,
                               text_column, id_column, redact, min_age_seconds)
    return {"message": result.message, "tagged_files": result.tagged_files, "failed_files": result.failed_files}


@flow(name="tag-inbox")
def tag_inbox(inbox: str, store: str, processed_dir: str | None = None, failed_dir: str | None = None,
              text_column: str | None = None, id_column: str | None = None, redact: bool = False,
              min_age_seconds: float = 5.0, model_dir: str = str(DEFAULT_MODEL_DIR), labels: str = str(DEFAULT_LABELS),
              detector: str = DEFAULT_DETECTOR):
    """Tag every new file of ``inbox`` into ``store`` and move it to ``processed_dir``."""
    outcome = process(inbox, store, processed_dir, failed_dir, text_column, id_column, redact, min_age_seconds,
                      model_dir, labels, detector)
    get_run_logger().info(outcome["message"])
    return Completed(message=outcome["message"], data=outcome)

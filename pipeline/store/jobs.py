"""Jobs over the results store: tag a file into it, and re-label what it holds with the current model."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from pipeline.ingest import DEFAULT_BATCH_SIZE, InputBatch, read_records
from pipeline.run import tag_batch
from pipeline.store.results import ResultStore
from pipeline.summary import RunSummary

log = logging.getLogger(__name__)


def tag_into_store(input_path: str | Path, store: ResultStore, tagger, text_column: str | None = None,
                   id_column: str | None = None, encoding: str | None = None,
                   batch_size: int = DEFAULT_BATCH_SIZE, on_batch: Callable[[int], None] | None = None,
                   redact: bool = False) -> RunSummary:
    """Tag every record of ``input_path`` into ``store``; rejects are stored with the run.

    Each batch is committed on its own, and saving a record again with the same model and taxonomy
    versions replaces it, so an interrupted run is simply started again.
    """
    run_id = store.start_run("tag", str(input_path), tagger.model_version, tagger.taxonomy.version)
    summary = RunSummary()
    try:
        for batch in read_records(input_path, text_column, id_column, encoding, batch_size):
            tagged, rejects = tag_batch(batch, tagger, redact)
            store.save_tagged(tagged, run_id, source=Path(input_path).name)
            store.save_rejects(rejects, run_id)
            summary.add_tagged(tagged)
            summary.add_reject_table(rejects)
            if on_batch:
                on_batch(tagged.num_rows + rejects.num_rows)
    except BaseException:
        store.finish_run(run_id, summary.read, summary.tagged, summary.rejected, status="failed")
        raise
    store.finish_run(run_id, summary.read, summary.tagged, summary.rejected, details=summary.as_dict())
    summary.outputs = {"store": store.description, "run": run_id}
    return summary


@dataclass
class RelabelReport:
    """What a re-label did: records relabelled now, failures left pending, and label flips."""

    run_id: str
    model_version: str
    taxonomy_version: str
    relabelled: int = 0
    failed: int = 0
    pending_before: int = 0
    changes: list[tuple[str, str, int, int]] = field(default_factory=list)

    @property
    def changed_labels(self) -> int:
        return sum(added + removed for _, _, added, removed in self.changes)


def relabel(store: ResultStore, tagger, batch_size: int = DEFAULT_BATCH_SIZE, limit: int | None = None,
            on_batch: Callable[[int], None] | None = None) -> RelabelReport:
    """Re-classify stored records that have no labeling from ``tagger``'s model and taxonomy versions.

    Old labelings stay (history); each new one records the model and labels it replaced. Batches
    commit one by one, so an interrupted re-label continues where it stopped when run again. A
    batch that fails is logged and left pending for the next run; nothing is dropped.
    """
    model_version, taxonomy_version = tagger.model_version, tagger.taxonomy.version
    report = RelabelReport(store.start_run("relabel", None, model_version, taxonomy_version),
                           model_version, taxonomy_version)
    report.pending_before = store.count_pending(model_version, taxonomy_version)
    after: str | None = None
    try:
        while limit is None or report.relabelled + report.failed < limit:
            size = batch_size if limit is None else min(batch_size, limit - report.relabelled - report.failed)
            pending = store.pending(model_version, taxonomy_version, size, after)
            if not pending:
                break
            after = pending[-1].id
            batch = InputBatch([p.id for p in pending], [p.text for p in pending],
                               [p.row_number for p in pending], pa.table({}))
            languages = [(p.language, p.language_confidence or 0.0) if p.language else None for p in pending]
            if any(lang is None for lang in languages):
                detected = tagger.detect(batch.texts)
                languages = [lang or found for lang, found in zip(languages, detected)]
            try:
                tagged = tagger.tag(batch, languages)
                store.save_tagged(tagged, report.run_id, previous={p.id: p for p in pending})
            except Exception as exc:  # noqa: BLE001 - one bad batch must not stop the others
                log.error("re-labelling %d records after id %r failed, left pending: %s", len(pending),
                          pending[0].id, exc)
                report.failed += len(pending)
                continue
            report.relabelled += len(pending)
            if on_batch:
                on_batch(len(pending))
    except BaseException:
        store.finish_run(report.run_id, report.relabelled + report.failed, report.relabelled, report.failed,
                         status="interrupted")
        raise
    report.changes = store.label_changes(model_version, taxonomy_version)
    store.finish_run(report.run_id, report.relabelled + report.failed, report.relabelled, report.failed,
                     details={"pending_before": report.pending_before, "changes": report.changes})
    return report


"""The main job as a Prefect flow: split → tag each chunk (in parallel) → merge.

Each task is one call into ``pipeline.chunks``; there is one task per chunk of records, never one per
record. The model is loaded inside the tagging task and cached per process (never passed as an
argument, which would break Prefect's caching and persistence, and could not be shipped to Dask).

Tasks run on a local thread (the default: torch already uses every core) or on Dask, either a
``LocalCluster`` started for the run or an existing cluster; see :func:`run_tag_feedback`.
"""
from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path

from prefect import flow, get_run_logger, task, unmapped
from prefect.states import Completed
from prefect.task_runners import ThreadPoolTaskRunner

from pipeline import chunks
from pipeline.checkpoint import Checkpoints
from pipeline.config import CHUNK_SIZE, DEFAULT_DETECTOR, DEFAULT_EVIDENCE, DEFAULT_LABELS, DEFAULT_MODEL_DIR
from pipeline.errors import ChurnlensError
from pipeline.run import default_rejects_path

TORCH_THREADS_ENV = "CHURNLENS_TORCH_THREADS"
log = logging.getLogger(__name__)


def _worth_retrying(task, task_run, state) -> bool:
    """Retry I/O trouble, not a problem only the user can fix (bad input or settings: same error again)."""
    return not isinstance(state.result(raise_on_failure=False), (ChurnlensError, ValueError))


IO_RETRIES = {"retries": 2, "retry_delay_seconds": [2, 10], "retry_condition_fn": _worth_retrying}


@lru_cache(maxsize=4)
def _tagger(model_dir: str, labels: str, detector: str, precision: str, evidence: str = DEFAULT_EVIDENCE):
    """One Tagger per process and setting; ``$CHURNLENS_TORCH_THREADS`` caps torch's threads in this process."""
    from pipeline.tagging import Tagger

    if os.environ.get(TORCH_THREADS_ENV):
        import torch

        torch.set_num_threads(int(os.environ[TORCH_THREADS_ENV]))
    return Tagger.load(model_dir, labels, detector, precision=precision, evidence=evidence)


@task(**IO_RETRIES)
def split(input_path: str, work_dir: str, text_column: str | None, id_column: str | None, encoding: str | None,
          chunk_size: int, redact: bool) -> chunks.ChunkPlan:
    return chunks.split_input(input_path, work_dir, text_column, id_column, encoding, chunk_size, redact=redact)


@task
def tag_chunk(chunk_path: str, out_path: str, model_dir: str, labels: str, detector: str, precision: str,
              redact: bool, evidence: str = DEFAULT_EVIDENCE) -> dict[str, int]:
    return chunks.tag_chunk(chunk_path, out_path, _tagger(model_dir, labels, detector, precision, evidence), redact)


@task(**IO_RETRIES)
def reject_chunk(chunk_path: str, out_path: str, message: str, redact: bool) -> int:
    return chunks.reject_chunk(chunk_path, out_path, message, redact)


@task(**IO_RETRIES)
def merge(tagged_parts: list[str], reject_parts: list[str], output: str, rejects_path: str):
    return chunks.merge_parts(tagged_parts, reject_parts, output, rejects_path)


@flow(name="tag-feedback", log_prints=True, task_runner=ThreadPoolTaskRunner(max_workers=1))
def tag_feedback(input_path: str, output_path: str, rejects_path: str | None = None,
                 text_column: str | None = None, id_column: str | None = None, encoding: str | None = None,
                 detector: str = DEFAULT_DETECTOR, model_dir: str = str(DEFAULT_MODEL_DIR),
                 labels: str = str(DEFAULT_LABELS), chunk_size: int = CHUNK_SIZE, redact: bool = False,
                 precision: str = "fp32", evidence: str = DEFAULT_EVIDENCE):
    """Tag a feedback file in chunks of ``chunk_size`` records; writes tagged records and rejects.

    The final state's message gives the counts. A chunk whose tagging fails goes to the rejects as
    ``processing_error`` (nothing is lost) while the other chunks finish. The chunks and finished parts
    live in ``OUTPUT.parts/`` until the outputs are written: run again after an interruption and
    finished chunks are reused.
    """
    input_path, output = str(Path(input_path).resolve()), Path(output_path).resolve()
    rejects_path = str(Path(rejects_path).resolve() if rejects_path else default_rejects_path(output))
    model_dir, labels = str(Path(model_dir).resolve()), str(Path(labels).resolve())
    fingerprint = chunks.work_fingerprint(input_path, model_dir, labels, text=text_column, id=id_column,
                                          encoding=encoding, chunk_size=chunk_size, redact=redact,
                                          detector=detector, precision=precision, evidence=evidence)
    with Checkpoints(output, fingerprint) as work:
        plan = split(input_path, str(work.directory), text_column, id_column, encoding, chunk_size, redact)
        futures = tag_chunk.map(plan.chunks, plan.tagged_parts, unmapped(model_dir), unmapped(labels),
                                unmapped(detector), unmapped(precision), unmapped(redact), unmapped(evidence))
        tagged_parts, failed_parts, resumed = _collect(plan, futures, redact)
        summary = merge(tagged_parts, [plan.rejects, *failed_parts], str(output), rejects_path)
        work.clear()
    summary.resumed_batches = resumed
    message = f"read {summary.read} = tagged {summary.tagged} + rejected {summary.rejected}"
    get_run_logger().info(message)
    return Completed(message=message, data=summary)


def _collect(plan: chunks.ChunkPlan, futures, redact: bool) -> tuple[list[str], list[str], int]:
    """The tagged parts of the chunks that worked; the others' records written as processing_error rejects."""
    tagged_parts, failed_parts, resumed = [], [], 0
    for chunk, tagged_part, failed_part, future in zip(plan.chunks, plan.tagged_parts, plan.failed_parts, futures):
        future.wait()
        if future.state.is_completed():
            tagged_parts.append(tagged_part)
            resumed += future.result()["resumed"]
        else:
            reject_chunk(chunk, failed_part, f"tagging failed: {future.state.message}", redact)
            failed_parts.append(failed_part)
    return tagged_parts, failed_parts, resumed


def task_runner(dask_address: str | None = None, dask_workers: int | None = None):
    """The task runner for a run: one local thread, an existing Dask cluster, or a LocalCluster of N processes."""
    if dask_address and dask_workers:
        raise ValueError("choose either dask_address (an existing cluster) or dask_workers (a LocalCluster), not both")
    if not dask_address and not dask_workers:
        return ThreadPoolTaskRunner(max_workers=1)
    from prefect_dask import DaskTaskRunner

    if dask_address:
        from prefect.settings import PREFECT_API_URL

        if not PREFECT_API_URL.value():
            log.warning("no Prefect server configured (PREFECT_API_URL): every Dask worker will start its own "
                        "embedded API (~50 s each); start one with `prefect server start` and set PREFECT_API_URL "
                        "here and on the workers")
        return DaskTaskRunner(address=dask_address)
    if dask_workers < 1:
        raise ValueError(f"dask_workers must be at least 1, got {dask_workers}")
    return DaskTaskRunner(cluster_class=local_cluster, cluster_kwargs={"n_workers": dask_workers})


def local_cluster(n_workers: int):
    """A Dask LocalCluster of ``n_workers`` single-threaded processes sharing the cores for torch.

    Called by the task runner inside the flow run, so the workers can be pointed at the Prefect API the
    flow already uses (a server's ``PREFECT_API_URL``, or this process's embedded one) instead of each
    starting its own embedded API (~50 s).
    """
    from distributed import LocalCluster

    threads = str(max(1, (os.cpu_count() or 1) // n_workers))
    env = {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, TORCH_THREADS_ENV: threads}
    api_url = current_api_url()
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, env=env)


def current_api_url() -> str | None:
    """The Prefect API this process talks to: the configured server, or the embedded one if it is running."""
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return PREFECT_API_URL.value()
    from prefect.server.api.server import SubprocessASGIServer

    embedded = SubprocessASGIServer()
    return embedded.api_url if embedded.running else None


def run_tag_feedback(input_path: str, output_path: str, *, dask_address: str | None = None,
                     dask_workers: int | None = None, return_state: bool = False, **parameters):
    """Run :func:`tag_feedback` (``parameters`` are its own) with the task runner chosen here.

    ``dask_address="tcp://host:8786"`` runs the chunks on an existing Dask cluster (start a Prefect
    server and set ``PREFECT_API_URL`` on the workers too); ``dask_workers=N`` on a LocalCluster of N
    processes; neither, on one local thread. Returns the RunSummary (or the final state).
    """
    runner = task_runner(dask_address, dask_workers)
    return tag_feedback.with_options(task_runner=runner)(input_path, output_path, return_state=return_state,
                                                         **parameters)

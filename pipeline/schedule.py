"""The schedule file of `churnlens serve`: which folders to watch, how often, into which store."""
from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.config import DEFAULT_DETECTOR, DEFAULT_LABELS, DEFAULT_MODEL_DIR
from pipeline.errors import ChurnlensError

EXAMPLE = """\
# churnlens serve schedule.yaml   (needs a Prefect server: see README, "Scheduled runs")
jobs:
  - name: nightly-inbox
    inbox: /data/feedback/inbox          # new .csv/.tsv/.jsonl/.parquet files land here
    store: /data/churnlens.duckdb        # or postgresql://churnlens@db.internal/churnlens
    cron: "0 2 * * *"                    # every night at 02:00
    timezone: Europe/Copenhagen
    text_column: comment                 # optional; guessed when absent
"""


class Job(BaseModel):
    """One scheduled job: tag the new files of ``inbox`` into ``store``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    inbox: Path
    store: str
    cron: str | None = None
    interval_seconds: int | None = Field(default=None, ge=5)
    timezone: str = "UTC"
    processed_dir: Path | None = None
    failed_dir: Path | None = None
    text_column: str | None = None
    id_column: str | None = None
    redact: bool = False
    min_age_seconds: float = Field(default=5.0, ge=0)
    detector: str = DEFAULT_DETECTOR
    model_dir: Path = DEFAULT_MODEL_DIR
    labels: Path = DEFAULT_LABELS

    @model_validator(mode="after")
    def _one_schedule(self) -> "Job":
        if (self.cron is None) == (self.interval_seconds is None):
            raise ValueError("give exactly one of cron (e.g. \"0 2 * * *\") or interval_seconds")
        return self

    def flow_parameters(self) -> dict:
        return {"inbox": str(self.inbox), "store": self.store,
                "processed_dir": str(self.processed_dir) if self.processed_dir else None,
                "failed_dir": str(self.failed_dir) if self.failed_dir else None,
                "text_column": self.text_column, "id_column": self.id_column, "redact": self.redact,
                "min_age_seconds": self.min_age_seconds, "detector": self.detector,
                "model_dir": str(self.model_dir), "labels": str(self.labels)}


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jobs: list[Job] = Field(min_length=1)
    max_concurrent_runs: int = Field(default=1, ge=1)


def load_schedule(path: str | Path) -> Schedule:
    """Read and validate a schedule file; errors name the job and field at fault."""
    path = Path(path)
    if not path.exists():
        raise ChurnlensError(f"no schedule file {path}. Example:\n{EXAMPLE}")
    try:
        schedule = Schedule.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ChurnlensError(f"{path}: {problems}. Example:\n{EXAMPLE}") from None
    base = path.resolve().parent
    for job in schedule.jobs:  # relative paths are relative to the schedule file
        job.inbox = job.inbox if job.inbox.is_absolute() else base / job.inbox
        if "://" not in job.store and not Path(job.store).is_absolute():
            job.store = str(base / job.store)
    names = [job.name for job in schedule.jobs]
    if len(set(names)) != len(names):
        raise ChurnlensError(f"{path}: job names must be unique ({', '.join(names)})")
    return schedule

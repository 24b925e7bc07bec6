"""A watched folder: tag every new input file into the store, then move it aside.

A file is identified by its content hash, so a file dropped twice (or renamed) is never tagged
twice. The order — tag, record the hash, move — makes a crash at any point safe: re-running
either re-tags idempotently or just finishes the move.
"""
from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from models.encoder.convert import sha256_of
from pipeline.errors import ChurnlensError
from pipeline.store.jobs import tag_into_store
from pipeline.store.results import ResultStore

INPUT_SUFFIXES = (".csv", ".tsv", ".jsonl", ".parquet")
log = logging.getLogger(__name__)


@dataclass
class InboxResult:
    tagged_files: list[str] = field(default_factory=list)
    duplicate_files: list[str] = field(default_factory=list)
    failed_files: dict[str, str] = field(default_factory=dict)
    read: int = 0
    tagged: int = 0
    rejected: int = 0

    @property
    def message(self) -> str:
        return (f"{len(self.tagged_files)} files tagged ({self.read} records = {self.tagged} tagged + "
                f"{self.rejected} rejected), {len(self.duplicate_files)} already seen, "
                f"{len(self.failed_files)} refused")


def pending_files(inbox: Path, min_age_seconds: float = 5.0) -> list[Path]:
    """Input files in ``inbox`` (not in sub-folders), oldest first; hidden files and files changed in
    the last ``min_age_seconds`` (probably still being copied) wait for the next run."""
    now = time.time()
    files = [p for p in Path(inbox).iterdir() if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES
             and not p.name.startswith(".") and now - p.stat().st_mtime >= min_age_seconds]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def move_aside(path: Path, folder: Path) -> Path:
    """Move ``path`` into ``folder/YYYY-MM-DD/``, never overwriting an earlier file of the same name."""
    target_dir = folder / datetime.now(timezone.utc).strftime("%Y-%m-%d")
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / path.name
    n = 1
    while target.exists():
        target = target_dir / f"{path.stem}.{n}{path.suffix}"
        n += 1
    shutil.move(str(path), target)
    return target


def process_inbox(inbox: str | Path, store: ResultStore, tagger, processed_dir: str | Path | None = None,
                  failed_dir: str | Path | None = None, text_column: str | None = None,
                  id_column: str | None = None, redact: bool = False, min_age_seconds: float = 5.0) -> InboxResult:
    """Tag the new files of ``inbox`` into ``store``; tagged files go to ``processed_dir`` (default
    ``inbox/processed``), refused ones to ``failed_dir`` (default ``inbox/failed``) with a ``.error.txt``."""
    inbox = Path(inbox)
    if not inbox.is_dir():
        raise ChurnlensError(f"inbox folder {inbox} does not exist: create it or fix the path in the config")
    processed = Path(processed_dir) if processed_dir else inbox / "processed"
    failed = Path(failed_dir) if failed_dir else inbox / "failed"
    result = InboxResult()
    for path in pending_files(inbox, min_age_seconds):
        sha = sha256_of(path)
        if store.file_ingested(sha):
            log.info("%s was tagged before (same content): moved aside without tagging", path.name)
            move_aside(path, processed)
            result.duplicate_files.append(path.name)
            continue
        try:
            summary = tag_into_store(path, store, tagger, text_column, id_column, redact=redact)
        except (ChurnlensError, ValueError) as exc:
            target = move_aside(path, failed)
            target.with_name(target.name + ".error.txt").write_text(f"{exc}\n", encoding="utf-8")
            log.error("%s refused: %s", path.name, exc)
            result.failed_files[path.name] = str(exc)
            continue
        store.mark_file_ingested(sha, path.name, summary.outputs.get("run"))
        move_aside(path, processed)
        result.tagged_files.append(path.name)
        result.read += summary.read
        result.tagged += summary.tagged
        result.rejected += summary.rejected
    return result

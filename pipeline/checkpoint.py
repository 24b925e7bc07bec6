"""Batch checkpoints for long runs: a killed run, started again, resumes without duplicates or gaps.

Each finished batch is written as its own small Parquet part (atomically) in ``OUTPUT.parts/``,
keyed by its index; the parts are only trusted if they were made from the same input with the same
settings. At the end the parts are streamed into the real outputs and the folder is removed.
A lock file keeps two runs from writing the same output at once.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import ChurnlensError


def file_identity(path: str | Path) -> dict:
    """What says a file is still the same one: its absolute path, size and modification time."""
    path = Path(path)
    stat = path.stat() if path.exists() else None
    return {"path": str(path.resolve()), "size": stat and stat.st_size, "mtime": stat and stat.st_mtime_ns}


class Checkpoints:
    def __init__(self, output: Path, fingerprint: dict) -> None:
        self.directory = output.with_name(output.name + ".parts")
        self.key = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()[:16]
        self._lock_path = output.with_name(output.name + ".lock")
        self._lock = None

    def __enter__(self) -> "Checkpoints":
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = open(self._lock_path, "w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise ChurnlensError(f"another churnlens run is writing {self._lock_path.with_suffix('')}; "
                                 f"wait for it or choose another --output") from None
        stamp = self.directory / "KEY"
        if self.directory.exists() and (not stamp.exists() or stamp.read_text() != self.key):
            shutil.rmtree(self.directory)  # parts of another input or other settings: start over
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp.write_text(self.key)
        return self

    def __exit__(self, *exc) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock_path.unlink(missing_ok=True)

    def _part(self, kind: str, index: int) -> Path:
        return self.directory / f"{kind}-{index:07d}.parquet"

    def done(self, index: int) -> bool:
        return self._part("tagged", index).exists() and self._part("rejects", index).exists()

    def save(self, index: int, tagged: pa.Table, rejects: pa.Table) -> None:
        for kind, table in (("tagged", tagged), ("rejects", rejects)):
            tmp = self._part(kind, index).with_suffix(".tmp")
            pq.write_table(table, tmp)
            os.replace(tmp, self._part(kind, index))

    def load(self, kind: str, index: int) -> pa.Table:
        return pq.read_table(self._part(kind, index))

    def parts(self, kind: str) -> list[Path]:
        return sorted(self.directory.glob(f"{kind}-*.parquet"))

    def clear(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

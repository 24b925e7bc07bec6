"""Counts of a run: read = tagged + rejected, labels per language, reject reasons."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa


@dataclass
class RunSummary:
    read: int = 0
    tagged: int = 0
    rejected: int = 0
    labels: Counter = field(default_factory=Counter)
    languages: Counter = field(default_factory=Counter)
    labels_by_language: Counter = field(default_factory=Counter)
    reject_reasons: Counter = field(default_factory=Counter)
    outputs: dict[str, str] = field(default_factory=dict)
    resumed_batches: int = 0

    def add_tagged(self, table: pa.Table) -> None:
        self.tagged += table.num_rows
        self.read += table.num_rows
        langs = table.column("language").to_pylist()
        for lang, labels in zip(langs, table.column("labels").to_pylist()):
            self.languages[lang] += 1
            for label in labels or ["(none)"]:
                self.labels[label] += 1
                self.labels_by_language[(label, lang)] += 1

    def add_reject_table(self, table: pa.Table) -> None:
        self.rejected += table.num_rows
        self.read += table.num_rows
        self.reject_reasons.update(table.column("reason").to_pylist())

    @property
    def reconciles(self) -> bool:
        return self.read == self.tagged + self.rejected

    def as_dict(self) -> dict:
        return {
            "read": self.read, "tagged": self.tagged, "rejected": self.rejected, "reconciles": self.reconciles,
            "labels": dict(self.labels), "languages": dict(self.languages),
            "reject_reasons": dict(self.reject_reasons), "outputs": self.outputs,
            "resumed_batches": self.resumed_batches,
        }

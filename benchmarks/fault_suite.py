"""Feed churnlens the bad inputs real feedback files contain and show that nothing is lost.

Usage: python benchmarks/fault_suite.py
Prints, per fault: records in, tagged, rejected, lost (must be 0) and what the user is told.
"""
from __future__ import annotations

import io
import json
import os
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pipeline.errors import ChurnlensError  # noqa: E402
from pipeline.run import classify_file  # noqa: E402
from pipeline.tagging import Tagger  # noqa: E402

OK = "Too expensive so I am switching to a cheaper provider."


def _csv(rows: list[str]) -> bytes:
    return ("id,comment\n" + "".join(r + "\n" for r in rows)).encode("utf-8")


def faults() -> list[tuple]:
    """(name, file name, content, records in the file, classify options)."""
    rng = os.urandom
    parquet = io.BytesIO()
    pq.write_table(pa.table({"id": [str(i) for i in range(50)], "text": [OK] * 50}), parquet)
    jsonl = [json.dumps({"id": 1, "text": OK}), json.dumps({"id": 2, "text": 12345}), json.dumps({"id": 3, "text": {"a": 1}}),
             json.dumps({"id": 4, "text": None}), "{not json", json.dumps([1, 2])]
    return [
        ("unbalanced quote", "quote.csv", _csv(['1,"Too expensive', f"2,{OK}", f"3,{OK}"]), 3),
        ("wrong field count", "fields.csv", _csv([f"1,{OK},extra", f"2,{OK}", "3"]), 3),
        ("invalid bytes, --encoding utf-8", "bytes.csv", _csv([f"1,{OK}"]) + b"2,caf\xe9 \xff\xfe nul\n", 2,
         {"encoding": "utf-8"}),
        ("invalid bytes, encoding detected", "bytes2.csv", _csv([f"{i},{OK} {i}" for i in range(5)])
         + b"9,caf\xe9 tr\xe8s cher\n", 6),
        ("empty / whitespace text", "empty_text.csv", _csv([f"1,{OK}", "2,", "3,   ", "4,\t"]), 4),
        ("5 MB text", "huge.csv", _csv([f"1,{OK}", "2," + ("very long complaint " * 260_000)]), 2),
        ("binary garbage", "garbage.csv", rng(20_000), None),
        ("missing text column", "nocol.csv", b"id,body\n1,hello\n", 1),
        ("null ids", "nullid.csv", _csv([f"1,{OK}", f",{OK} 2", f"3,{OK} 3"]), 3),
        ("duplicate ids (first kept)", "dup.csv", _csv([f"1,{OK}", f"1,{OK} again", f"2,{OK}"]), 3),
        ("non-string values (JSONL)", "values.jsonl", ("\n".join(jsonl) + "\n").encode(), 6),
        ("mixed encodings", "mixed.csv", _csv([f"{i},Qualité médiocre {i}" for i in range(10)])
         + "10,Très déçu\n".encode("cp1252") + "11,料金が高すぎる\n".encode("cp932"), 12),
        ("truncated Parquet", "trunc.parquet", parquet.getvalue()[: len(parquet.getvalue()) // 2], 50),
        ("empty file", "empty.csv", b"", 0),
        ("header only", "header.csv", b"id,comment\n", 0),
    ]


def main() -> None:
    tagger = Tagger.load(evidence=False)
    table = Table(title="fault suite: every record tagged or rejected, none lost")
    for col in ("fault", "in", "tagged", "rejected", "lost", "what the user is told"):
        table.add_column(col, justify="left" if col in ("fault", "what the user is told") else "right")
    with tempfile.TemporaryDirectory() as tmp:
        for name, filename, content, n_in, *options in faults():
            options = options[0] if options else {}
            path = Path(tmp) / filename
            path.write_bytes(content)
            out = Path(tmp) / f"{path.stem}.out.parquet"
            try:
                summary = classify_file(path, out, tagger, text_column="comment" if filename.endswith(".csv") else "text",
                                        **options)
                reasons = ", ".join(f"{k} ×{v}" for k, v in summary.reject_reasons.items()) or "—"
                n = summary.read if n_in is None else n_in
                lost = n - summary.tagged - summary.rejected
                table.add_row(name, str(n), str(summary.tagged), str(summary.rejected),
                              f"[{'red' if lost else 'green'}]{lost}[/]", reasons)
            except ChurnlensError as exc:
                written = out.exists()
                table.add_row(name, "?" if n_in is None else str(n_in), "0", "0 (file refused)",
                              "[red]partial output![/]" if written else "[green]0[/]", f"exit 2: {exc}"[:110])
    Console(width=200).print(table)


if __name__ == "__main__":
    main()

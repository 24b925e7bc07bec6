"""Read feedback files (CSV, TSV, JSONL, Parquet) in batches of records with stable ids.

Every input row ends up either in a batch's ``records`` or in its ``rejects`` with a reason.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from pipeline.encodings import detect_encoding, normalise_encoding_name, redecode
from pipeline.errors import InputError

DEFAULT_BATCH_SIZE = 512
TEXT_COLUMN_GUESSES = ("text", "comment", "comments", "feedback", "message", "review", "body", "answer", "content")
ID_COLUMN_GUESSES = ("id", "record_id", "response_id")


@dataclass(frozen=True)
class Reject:
    """An input row that could not be processed, and why (``reason`` is a stable code)."""

    row_number: int | None
    reason: str
    message: str
    id: str | None = None
    raw: str | None = None


@dataclass
class InputBatch:
    """Valid records (ids, texts, pass-through columns) plus the rejected rows of one chunk."""

    ids: list[str]
    texts: list[str]
    row_numbers: list[int]
    passthrough: pa.Table
    rejects: list[Reject] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class RawChunk:
    table: pa.Table
    first_row: int
    rejects: tuple[Reject, ...] = ()


def content_id(text: str) -> str:
    """Stable id for a record that has none: a hash of its text."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:20]


# --- readers: each yields RawChunks of string-or-native columns --------------------------------

_SURROGATE = re.compile("[\udc80-\udcff]")


def _errors(encoding: str) -> str:
    """Undecodable bytes are kept (as surrogates) so that one bad row does not stop the file."""
    return "strict" if encoding.startswith("utf-16") else "surrogateescape"


def _fix_encoding(values: list[str], encoding: str, repair: bool) -> tuple[list[str] | None, str]:
    """Values with undecodable bytes are re-decoded (mixed-encoding files) or, if not allowed, refused."""
    if not any(_SURROGATE.search(v) for v in values):
        return values, ""
    if not repair:
        return None, f"bytes not valid in {encoding}; drop --encoding to let churnlens detect and repair it"
    fixed = []
    for value in values:
        text = redecode(value.encode(encoding, "surrogateescape")) if _SURROGATE.search(value) else value
        if text is None:
            return None, f"bytes not valid in {encoding}, cp932 or cp1252"
        fixed.append(text)
    return fixed, ""


def _read_delimited(path: Path, encoding: str, batch_size: int, delimiter: str,
                    repair: bool) -> Iterator[RawChunk]:
    """Python's csv module in strict mode: exact record numbers; a row with a wrong field count or a
    broken quote is rejected and parsing resumes on the next line, so one bad quote cannot swallow the file."""
    import csv

    csv.field_size_limit(1 << 30)
    header: list[str] | None = None
    rows: list[list[str]] = []
    numbers: list[int] = []
    rejects: list[Reject] = []
    number = 0
    resume_line = 0  # physical lines already consumed
    while True:
        with open(path, encoding=encoding, errors=_errors(encoding), newline="") as fh:
            for _ in range(resume_line):
                fh.readline()
            reader = csv.reader(fh, delimiter=delimiter, strict=True)
            try:
                if header is None:
                    header = next(reader, None)
                    if not header:
                        return
                    header[0] = header[0].lstrip("\ufeff")
                width = len(header)
                while True:
                    record_start = resume_line + reader.line_num
                    fields = next(reader, None)
                    if fields is None:
                        break
                    if not fields:
                        continue  # a blank line is not a record
                    number += 1
                    if len(fields) != width:
                        rejects.append(Reject(number, "malformed_row", f"expected {width} fields, found {len(fields)}",
                                              raw=_printable(delimiter.join(fields))))
                        continue
                    fixed, problem = _fix_encoding(fields, encoding, repair)
                    if fixed is None:
                        rejects.append(Reject(number, "invalid_encoding", problem, raw=_printable(delimiter.join(fields))))
                        continue
                    rows.append(fixed)
                    numbers.append(number)
                    if len(rows) >= batch_size:
                        yield _columns_chunk(header, rows, numbers, rejects)
                        rows, numbers, rejects = [], [], []
                break
            except csv.Error as exc:
                if header is None:
                    raise InputError(f"cannot parse the header of {path.name}: {exc}") from None
                number += 1
                line = _physical_line(path, encoding, record_start)
                rejects.append(Reject(number, "malformed_row", f"broken quoting ({exc}); fix the quotes on this line",
                                      raw=_printable(line)))
                resume_line = record_start + 1
    if rows or rejects:
        yield _columns_chunk(header, rows, numbers, rejects)


def _physical_line(path: Path, encoding: str, index: int) -> str:
    with open(path, encoding=encoding, errors=_errors(encoding), newline="") as fh:
        for _ in range(index):
            fh.readline()
        return fh.readline().rstrip("\r\n")


def _columns_chunk(header: list[str], rows: list[list[str]], numbers: list[int], rejects: list[Reject]) -> RawChunk:
    columns = {name: pa.array([r[i] for r in rows], pa.string()) for i, name in enumerate(header)}
    columns["__line__"] = pa.array([str(n) for n in numbers], pa.string())
    return RawChunk(pa.table(columns), numbers[0] if numbers else 0, tuple(rejects))


def _printable(text: str) -> str:
    """Undecodable bytes shown as \\xNN so the raw value can be written out and inspected."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") if _SURROGATE.search(text) else text


def read_csv(path: Path, encoding: str, batch_size: int, repair: bool = True) -> Iterator[RawChunk]:
    return _read_delimited(path, encoding, batch_size, ",", repair)


def read_tsv(path: Path, encoding: str, batch_size: int, repair: bool = True) -> Iterator[RawChunk]:
    return _read_delimited(path, encoding, batch_size, "\t", repair)


def read_jsonl(path: Path, encoding: str, batch_size: int, repair: bool = True) -> Iterator[RawChunk]:
    rows: list[dict] = []
    rejects: list[Reject] = []
    first = 1
    with open(path, encoding=encoding, errors=_errors(encoding)) as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            fixed, problem = _fix_encoding([line], encoding, repair)
            if fixed is None:
                rejects.append(Reject(number, "invalid_encoding", problem, raw=_printable(line.rstrip("\n"))))
                continue
            line = fixed[0]
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError(f"expected a JSON object, found {type(obj).__name__}")
            except ValueError as exc:
                rejects.append(Reject(number, "invalid_json", str(exc), raw=line.rstrip("\n")))
                continue
            rows.append({k: _as_cell(v) for k, v in obj.items()} | {"__line__": str(number)})
            if len(rows) >= batch_size:
                yield RawChunk(_rows_to_table(rows), first, tuple(rejects))
                first += len(rows)
                rows, rejects = [], []
    if rows or rejects:
        yield RawChunk(_rows_to_table(rows), first, tuple(rejects))


def _as_cell(value: object) -> str | None:
    """JSON values become strings (objects and lists as JSON) so batches share one schema."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _rows_to_table(rows: list[dict]) -> pa.Table:
    names: dict[str, None] = {}
    for r in rows:
        names.update(dict.fromkeys(r))
    return pa.table({n: pa.array([r.get(n) for r in rows], pa.string()) for n in names})


def read_parquet(path: Path, encoding: str, batch_size: int, repair: bool = True) -> Iterator[RawChunk]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path} is not a readable Parquet file ({exc}); re-export it or check it is complete") from exc
    row = 1
    for batch in parquet.iter_batches(batch_size=batch_size):
        yield RawChunk(pa.Table.from_batches([batch]), row)
        row += batch.num_rows


READERS: dict[str, Callable[[Path, str, int, bool], Iterator[RawChunk]]] = {
    ".csv": read_csv, ".tsv": read_tsv, ".tab": read_tsv,
    ".jsonl": read_jsonl, ".ndjson": read_jsonl, ".parquet": read_parquet, ".pq": read_parquet,
}


# --- from raw chunks to validated batches ------------------------------------------------------

def read_records(
    path: str | Path,
    text_column: str | None = None,
    id_column: str | None = None,
    encoding: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Iterator[InputBatch]:
    """Yield InputBatches from ``path``; duplicate ids keep the first record and reject the rest."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"input file {path} not found")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise InputError(f"cannot read {path.name}: unknown extension {path.suffix!r}; "
                         f"use one of {', '.join(sorted(READERS))}")
    if path.stat().st_size == 0:
        return
    repair = encoding is None  # a detected encoding may be mixed; a declared one is taken at its word
    if reader is read_parquet:
        encoding = "binary"
    else:
        try:
            encoding = normalise_encoding_name(encoding) if encoding else detect_encoding(path)
        except LookupError as exc:
            raise InputError(str(exc)) from None
        if not encoding.startswith("utf-16") and _looks_binary(path):
            raise InputError(f"{path.name} looks like binary data, not {path.suffix[1:].upper()} text "
                             f"(it contains NUL bytes); check that it is the export you meant")
    seen_ids: set[str] = set()
    columns_checked = False
    try:
        for chunk in reader(path, encoding, batch_size, repair):
            if not columns_checked and chunk.table.num_columns:
                text_column, id_column = resolve_columns(chunk.table.column_names, text_column, id_column, path)
                columns_checked = True
            yield _validate(chunk, text_column, id_column, seen_ids)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not valid {encoding} ({exc.reason} at byte {exc.start}); "
                         f"pass --encoding (one of utf-8, utf-16, cp932, cp1252)") from None
    except pa.ArrowInvalid as exc:
        raise InputError(f"cannot parse {path} as {encoding} {path.suffix[1:].upper()}: {exc}") from None


def _looks_binary(path: Path, sample_bytes: int = 1 << 16) -> bool:
    with open(path, "rb") as fh:
        return b"\x00" in fh.read(sample_bytes)


def resolve_columns(columns: list[str], text_column: str | None, id_column: str | None, path: Path) -> tuple[str, str | None]:
    """Check the requested columns exist, or guess them; the error lists what is available."""
    visible = [c for c in columns if c != "__line__"]
    if text_column is None:
        guesses = [c for c in visible if c.strip().lower() in TEXT_COLUMN_GUESSES]
        if len(guesses) != 1:
            raise InputError(f"no text column chosen for {path.name} (columns: {', '.join(visible)}); "
                             f"pass --text-column NAME")
        text_column = guesses[0]
    elif text_column not in visible:
        raise InputError(f"column {text_column!r} not found in {path.name} (columns: {', '.join(visible)}); "
                         f"pass --text-column with one of them")
    if id_column is None:
        id_column = next((c for c in visible if c.strip().lower() in ID_COLUMN_GUESSES), None)
    elif id_column not in visible:
        raise InputError(f"id column {id_column!r} not found in {path.name} (columns: {', '.join(visible)}); "
                         f"pass --id-column with one of them, or leave it out to use a hash of the text")
    return text_column, id_column


def _validate(chunk: RawChunk, text_column: str, id_column: str | None, seen_ids: set[str]) -> InputBatch:
    table = chunk.table
    n = table.num_rows
    texts = table.column(text_column).to_pylist() if text_column in table.column_names else [None] * n
    given_ids = table.column(id_column).to_pylist() if id_column and id_column in table.column_names else None
    if "__line__" in table.column_names:
        rows = [int(x) for x in table.column("__line__").to_pylist()]
        table = table.drop_columns(["__line__"])
    else:
        rows = list(range(chunk.first_row, chunk.first_row + n))
    keep: list[int] = []
    ids: list[str] = []
    rejects = list(chunk.rejects)
    for i, (text, row) in enumerate(zip(texts, rows)):
        rid = None if given_ids is None else given_ids[i]
        rid = None if rid is None else str(rid).strip()
        if not isinstance(text, str) and text is not None:
            text = str(text)
        if given_ids is not None and not rid:
            rejects.append(Reject(row, "missing_id", f"empty value in id column {id_column!r}", None, text))
            continue
        if text is None or not text.strip():
            rejects.append(Reject(row, "empty_text", "text is empty or whitespace only", rid, text))
            continue
        rid = rid or content_id(text)
        if rid in seen_ids:
            rejects.append(Reject(row, "duplicate_id", f"id {rid!r} already seen earlier in this input", rid, text))
            continue
        seen_ids.add(rid)
        keep.append(i)
        ids.append(rid)
    passthrough = table.drop_columns([c for c in (text_column, id_column) if c and c in table.column_names])
    return InputBatch(ids=ids, texts=[str(texts[i]) for i in keep], row_numbers=[rows[i] for i in keep],
                      passthrough=passthrough.take(pa.array(keep, pa.int64())), rejects=rejects)

"""The numbers behind `churnlens report`: lenient parsing of amounts and dates, and column-wise
aggregates of tagged records (reasons per group, per month, value at risk, example picks)."""
from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.taxonomy import Taxonomy

TOP_VALUES = 12
EXAMPLES_PER_REASON = 3
REQUIRED_COLUMNS = ("id", "text", "language", "labels")
_CURRENCY = re.compile(r"(?i)[€$£¥₩₽₹\s\u00a0\u202f'_]|eur|usd|gbp|dkk|nok|sek|jpy|chf|kr\.?")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_THOUSANDS = {",": re.compile(r"[+-]?\d{1,3}(,\d{3})+"), ".": re.compile(r"[+-]?\d{1,3}(\.\d{3})+")}
_DATE_START = re.compile(r"(\d{4})[-/.](\d{1,2})(?:[-/.](\d{1,2}))?")


# ---- reading columns leniently -------------------------------------------------------------------------

def parse_amount(raw: object) -> float | None:
    """A number from a number or from text such as '2,400', '1.234,50', '€ 2 400' or "1'200"; None if unreadable."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float, Decimal)):
        return float(raw) if math.isfinite(raw) else None
    if not isinstance(raw, str):
        return None
    text = _CURRENCY.sub("", raw)
    if "," in text and "." in text:
        decimal = "," if text.rfind(",") > text.rfind(".") else "."
        text = text.replace("." if decimal == "," else ",", "").replace(",", ".")
    elif "," in text:
        text = text.replace(",", "") if _THOUSANDS[","].fullmatch(text) else text.replace(",", ".")
    elif text.count(".") > 1 and _THOUSANDS["."].fullmatch(text):
        text = text.replace(".", "")
    return float(text) if _NUMBER.fullmatch(text) else None


def parse_when(raw: object) -> datetime | None:
    """A naive (UTC if zoned) datetime from a date, timestamp or ISO-like text ('2026-01-03', '2026/1/3T10:00Z')."""
    if isinstance(raw, datetime):
        return raw.astimezone(timezone.utc).replace(tzinfo=None) if raw.tzinfo else raw
    if isinstance(raw, date):
        return datetime(raw.year, raw.month, raw.day)
    if not isinstance(raw, str):
        return None
    try:
        return parse_when(datetime.fromisoformat(raw.strip()))
    except ValueError:
        pass
    match = _DATE_START.match(raw.strip())
    try:
        return datetime(int(match[1]), int(match[2]), int(match[3] or 1)) if match else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Parsed:
    """A column read leniently: a value per record (NaN or NaT where empty or unreadable), and what was not read."""

    values: np.ndarray
    missing: int = 0
    unreadable: int = 0
    examples: tuple[str, ...] = ()

    def note(self, column: str, consequence: str) -> str:
        """'' when every value was read, else a sentence saying how many were not, with examples."""
        parts = []
        if self.unreadable:
            parts.append(f"{self.unreadable:,} could not be read (e.g. {', '.join(map(repr, self.examples))})")
        if self.missing:
            parts.append(f"{self.missing:,} are empty")
        return (f"Of the {len(self.values):,} values in column '{column}', {' and '.join(parts)}; {consequence}."
                if parts else "")


def _blank(raw: object) -> bool:
    return (isinstance(raw, str) and not raw.strip()) or (isinstance(raw, float) and math.isnan(raw))


def parse_column(column: pa.ChunkedArray, parse: Callable[[object], object], dtype: str) -> Parsed:
    """Apply ``parse`` once per distinct value of ``column``; ``dtype`` 'float64' or 'datetime64[s]'."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    uniques = pc.drop_null(pc.unique(column))
    codes = pc.fill_null(pc.index_in(column, value_set=uniques), -1).to_numpy()
    per_value = np.bincount(codes[codes >= 0], minlength=len(uniques))
    parsed, missing, unreadable, examples = [], int((codes < 0).sum()), 0, []
    for k, raw in enumerate(uniques.to_pylist()):
        value = None if _blank(raw) else parse(raw)
        parsed.append(value)
        if _blank(raw):
            missing += int(per_value[k])
        elif value is None:
            unreadable += int(per_value[k])
            examples.append(str(raw))
    lookup = np.array(parsed + [None], dtype=dtype)  # code -1 (null) picks the trailing NaN/NaT
    return Parsed(lookup[codes], missing, unreadable, tuple(examples[:3]))


def check_columns(records: pa.Table, value_column: str | None, segment_columns: Sequence[str],
                  date_column: str | None) -> None:
    """Raise ValueError naming the available columns if a requested or required column is absent."""
    names = records.column_names
    available = f"(columns: {', '.join(names) or 'none'})"
    asked = [("value column", value_column), ("date column", date_column)]
    asked += [("segment column", name) for name in segment_columns]
    absent = [f"{kind} '{name}'" for kind, name in asked if name is not None and name not in names]
    if absent:
        raise ValueError(f"{', '.join(absent)} not found in the tagged records {available}; "
                         "choose one of the available columns")
    nested = [f"{kind} '{name}'" for kind, name in asked
              if name is not None and pa.types.is_nested(records.schema.field(name).type)]
    if nested:
        raise ValueError(f"{', '.join(nested)} holds lists or records; choose a column of text, numbers or dates "
                         f"{available}")
    lacking = [name for name in REQUIRED_COLUMNS if name not in names]
    if records.num_rows and lacking:
        raise ValueError(f"the records lack {', '.join(lacking)} {available}; "
                         "report on the output of `churnlens classify`")


def as_map(value: object) -> dict:
    """Arrow maps arrive as lists of (key, value) pairs; JSON text (a CSV output) is decoded."""
    if isinstance(value, str):
        return as_map(json.loads(value)) if value.startswith("{") else {}
    return dict(value or {})


def _label_lists(column: pa.ChunkedArray) -> pa.Array:
    """The labels column as one list<string> array (decoding JSON text, as a CSV output holds it)."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return pa.array([json.loads(v) if v else [] for v in column.to_pylist()], pa.list_(pa.string()))
    return column.combine_chunks() if column.num_chunks else pa.array([], pa.list_(pa.string()))


# ---- aggregates ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reasons:
    """Which record carries which reason: a boolean column per label, most frequent label first."""

    order: list[str]
    has: dict[str, np.ndarray]
    any: np.ndarray

    def count(self, label: str) -> int:
        return int(self.has[label].sum())


def find_reasons(records: pa.Table, taxonomy: Taxonomy) -> Reasons:
    """Every taxonomy label plus any unknown one found in the records, with the records carrying each."""
    n = records.num_rows
    absent = pa.nulls(n, pa.list_(pa.string()))  # only an empty table may lack the column (check_columns)
    lists = _label_lists(records.column("labels")) if "labels" in records.column_names else absent
    flat, parents = pc.list_flatten(lists), pc.list_parent_indices(lists).to_numpy()
    found = pc.drop_null(pc.unique(flat)).to_pylist()
    every = list(taxonomy.ids) + sorted(set(found) - set(taxonomy.ids))
    codes = pc.fill_null(pc.index_in(flat, value_set=pa.array(every, pa.string())), -1).to_numpy()
    has = {}
    for k, label in enumerate(every):
        has[label] = np.zeros(n, dtype=bool)
        has[label][parents[codes == k]] = True
    order = sorted(every, key=lambda label: (-int(has[label].sum()), every.index(label)))
    return Reasons(order, has, np.logical_or.reduce(list(has.values()), axis=0) if has else np.zeros(n, bool))


@dataclass(frozen=True)
class CrossTab:
    """Records carrying each reason per group (a language, a segment value), and each group's size."""

    groups: list[str]
    sizes: np.ndarray
    counts: dict[str, np.ndarray]
    unlabelled: np.ndarray

    def shares(self, label: str) -> list[float]:
        return [c / s if s else 0.0 for c, s in zip(self.counts[label], self.sizes)]


def group_codes(column: pa.ChunkedArray, missing: str, limit: int = TOP_VALUES) -> tuple[np.ndarray, list[str]]:
    """A group per record: the ``limit`` most frequent values (largest first), then 'other (N values)'."""
    text = pc.fill_null(pc.cast(column, pa.string()), missing)
    text = pc.if_else(pc.equal(pc.utf8_trim_whitespace(text), ""), missing, text)
    counted = pc.value_counts(text)
    values, counts = counted.field("values").to_pylist(), counted.field("counts").to_numpy()
    ranked = [values[i] for i in np.argsort(-counts, kind="stable")]
    groups = ranked[:limit] + ([f"other ({len(ranked) - limit:,} values)"] if len(ranked) > limit else [])
    codes = pc.fill_null(pc.index_in(text, value_set=pa.array(ranked[:limit], pa.string())), limit)
    return codes.to_numpy().astype(np.int64), groups


def cross_tab(column: pa.ChunkedArray, reasons: Reasons, missing: str = "(missing)") -> CrossTab:
    codes, groups = group_codes(column, missing)
    size = len(groups)
    counts = {label: np.bincount(codes[reasons.has[label]], minlength=size) for label in reasons.order}
    return CrossTab(groups, np.bincount(codes, minlength=size), counts,
                    np.bincount(codes[~reasons.any], minlength=size))


def by_month(when: np.ndarray, reasons: Reasons) -> tuple[list[str], dict[str, np.ndarray], np.ndarray]:
    """Every month from the first to the last date; per reason and in all, the records of each month."""
    dated = ~np.isnat(when)
    if not dated.any():
        return [], {}, np.zeros(0, dtype=np.int64)
    months = when[dated].astype("datetime64[M]")
    first = months.min()
    index = (months - first).astype(np.int64)
    span = int(index.max()) + 1
    names = [str(first + np.timedelta64(i, "M")) for i in range(span)]
    counts = {label: np.bincount(index[reasons.has[label][dated]], minlength=span) for label in reasons.order}
    return names, counts, np.bincount(index, minlength=span)


@dataclass(frozen=True)
class ValueAtRisk:
    """Sums of a value column over the records carrying each reason, and over any reason (counted once)."""

    per_label: dict[str, float]
    at_risk: float
    at_risk_records: int
    total: float


def value_at_risk(values: np.ndarray, reasons: Reasons) -> ValueAtRisk:
    known = np.nan_to_num(values, nan=0.0)
    return ValueAtRisk({label: math.fsum(known[reasons.has[label]]) for label in reasons.order},
                       math.fsum(known[reasons.any]), int(reasons.any.sum()), math.fsum(known))


def label_scores(records: pa.Table, labels: Sequence[str]) -> dict[str, np.ndarray]:
    """Each record's score for each label (NaN where absent), from the ``scores`` map column."""
    n = records.num_rows
    out = {label: np.full(n, np.nan) for label in labels}
    column = records.column("scores") if "scores" in records.column_names else None
    if column is None or not n:
        return out
    if pa.types.is_map(column.type):
        maps = column.combine_chunks()
        offsets = maps.offsets.to_numpy()  # absolute positions in the (unsliced) keys and items
        lo, hi = int(offsets[0]), int(offsets[-1])
        keys = pc.index_in(maps.keys.slice(lo, hi - lo), value_set=pa.array(labels, pa.string()))
        keys = pc.fill_null(keys, -1).to_numpy().copy()
        items = pc.cast(maps.items.slice(lo, hi - lo), pa.float64()).to_numpy(zero_copy_only=False)
        parents = np.repeat(np.arange(n), np.diff(offsets))
        keys[~maps.is_valid().to_numpy(zero_copy_only=False)[parents]] = -1
        for k, label in enumerate(labels):
            found = keys == k
            out[label][parents[found]] = items[found]
        return out
    rows = [as_map(v) for v in column.to_pylist()]  # a struct (JSONL) or JSON text (CSV) column
    return {label: np.array([row.get(label) for row in rows], dtype="float64") for label in labels}


def pick_examples(has: np.ndarray, scores: np.ndarray, languages: np.ndarray,
                  limit: int = EXAMPLES_PER_REASON) -> list[int]:
    """Up to ``limit`` records where ``has``: highest scores first, one per language before any repeat."""
    candidates = np.flatnonzero(has)
    ranked = candidates[np.argsort(-np.nan_to_num(scores[candidates], nan=-1.0), kind="stable")].tolist()
    first, seen = [], set()
    for i in ranked:
        if languages[i] not in seen:
            first.append(i)
            seen.add(languages[i])
        if len(first) == limit:
            break
    chosen = set(first + [i for i in ranked[:2 * limit] if i not in first][:limit - len(first)])
    return [i for i in ranked if i in chosen]


# ---- the page -----------------------------------------------------------------------------------------

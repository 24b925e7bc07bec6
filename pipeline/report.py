"""`churnlens report`: why customers leave, as one self-contained HTML page built from tagged records.

Aggregates are computed column-wise (Arrow and numpy), so a million records take seconds. The page
has no external resources: CSS is inline and plots are base64 PNG. Every text that comes from the
records (feedback, ids, segment values, versions) is HTML-escaped.
"""
from __future__ import annotations

import html
import json
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import report_plots as plots
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


def _as_map(value: object) -> dict:
    """Arrow maps arrive as lists of (key, value) pairs; JSON text (a CSV output) is decoded."""
    if isinstance(value, str):
        return _as_map(json.loads(value)) if value.startswith("{") else {}
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
    rows = [_as_map(v) for v in column.to_pylist()]  # a struct (JSONL) or JSON text (CSV) column
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

CSS = """
body{font-family:system-ui,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK JP","Hiragino Sans","Yu Gothic",
"Microsoft YaHei",sans-serif;color:#1d2230;max-width:1120px;margin:2rem auto;padding:0 1.5rem;line-height:1.45}
h1{margin-bottom:.2rem}h2{margin-top:2.4rem;border-bottom:2px solid #e3e7ee;padding-bottom:.2rem}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:.6rem;margin:1rem 0}
.fact{background:#f3f6fa;border-radius:6px;padding:.5rem .8rem}.fact b{display:block;font-size:1.25rem}
.fact span{color:#5b6475;font-size:.85rem}.note{color:#5b6475;font-size:.92rem}.warn{color:#9a4b00}
img{max-width:100%;height:auto;display:block;margin:1rem 0}.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:.9rem;margin:.6rem 0}th,td{padding:.3rem .7rem;border-bottom:1px solid #e3e7ee}
th{text-align:left;background:#f3f6fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
tfoot td{font-weight:600}small{color:#6b7385}dt{font-weight:600;margin-top:.4rem}
.example{border-left:4px solid #2f6db5;background:#f8fafc;margin:.6rem 0;padding:.5rem .9rem;list-style:none}
.example q{font-size:1.02rem}.example .meta{color:#5b6475;font-size:.82rem;margin-top:.25rem}
ul.examples{padding:0}mark{background:#ffe7a3}details{font-size:.88rem;margin-top:.3rem}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _pct(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "–"


def _amount(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _share(part: int, whole: int) -> str:
    return f"{part:,} <small>{_pct(part, whole)}</small>"


def _img(png: str, alt: str) -> str:
    return f'<img src="data:image/png;base64,{png}" alt="{_e(alt)}">'


def _table(head: Sequence[str], body: Sequence[Sequence[str]], foot: Sequence[Sequence[str]] = ()) -> str:
    """An HTML table of cells that are already HTML; every cell but the first is a right-aligned number."""
    def row(cells: Sequence[str], tag: str = "td") -> str:
        return "<tr>" + "".join(f'<{tag}{" class=n" if j and tag == "td" else ""}>{c}</{tag}>'
                                for j, c in enumerate(cells)) + "</tr>"
    return ('<div class="scroll"><table><thead>' + row([_e(h) for h in head], "th") + "</thead><tbody>"
            + "".join(map(row, body)) + "</tbody><tfoot>" + "".join(map(row, foot)) + "</tfoot></table></div>")


def _lang(code: str) -> str:
    """A lang attribute, so the browser picks the right CJK glyphs; none for 'und' or odd codes."""
    return f' lang="{code}"' if re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]{1,8})*", code) and code != "und" else ""


def _plot_names(groups: list[str]) -> list[str]:
    """Group names for a plot: shortened, or '#k' where the plot fonts lack a character (the table shows it)."""
    shortened = [group if len(group) <= 24 else group[:23] + "…" for group in groups]
    return [name if plots.drawable(name) else f"#{k}" for k, name in enumerate(shortened, 1)]


def _distinct(records: pa.Table, column: str) -> str:
    if column not in records.column_names:
        return "–"
    return ", ".join(sorted(str(v) for v in pc.drop_null(pc.unique(records.column(column))).to_pylist())) or "–"


def _header(records: pa.Table, taxonomy: Taxonomy, reasons: Reasons, when: Parsed, when_column: str,
            rejected: int) -> str:
    n, labelled = records.num_rows, int(reasons.any.sum())
    uncertain = int(pc.sum(records.column("uncertain")).as_py() or 0) if "uncertain" in records.column_names else 0
    dated = when.values[~np.isnat(when.values)].astype("datetime64[D]")
    span = f"{dated.min()} – {dated.max()}" if len(dated) else "–"
    facts = [(f"{n:,}", "records"), (span, f"dates ({when_column})"),
             (_pct(labelled, n), f"{labelled:,} with at least one reason"),
             (_pct(uncertain, n), f"{uncertain:,} flagged uncertain"),
             (f"{rejected:,}", "rejected at input (not in this report)"),
             (_distinct(records, "model_version"), "model"),
             (_distinct(records, "taxonomy_version"), f"taxonomy (labels.yaml: {taxonomy.version})")]
    notes = [when.note(when_column, "those records are left out of the dates and the monthly plot")]
    unknown = [label for label in reasons.order if label not in taxonomy.ids and reasons.count(label)]
    if unknown:
        notes.append(f"Labels not in taxonomy {taxonomy.version}: {', '.join(unknown)}. The records were tagged "
                     "with another taxonomy; they are shown by id. Re-run classify, or report with that labels.yaml.")
    return ('<div class="facts">' + "".join(f'<div class="fact"><b>{_e(v)}</b><span>{_e(k)}</span></div>'
                                            for v, k in facts) + "</div>"
            + "".join(f'<p class="note warn">{_e(note)}</p>' for note in notes if note))


def _breakdown(column: pa.ChunkedArray, reasons: Reasons, names: dict[str, str], what: str, missing: str) -> str:
    """Heatmap and table of the share of each group's records carrying each reason."""
    tab = cross_tab(column, reasons, missing)
    order, shown, [axis] = reasons.order, _plot_names(tab.groups), _plot_names([what])
    png = plots.heatmap([tab.shares(label) for label in order], [tab.counts[label] for label in order],
                        _plot_names([names[label] for label in order]), shown,
                        f"Share of each {axis}'s records with each reason", axis)
    body = [[_e(group) + (f" <small>({_e(shown[i])})</small>" if shown[i] != group else ""), f"{tab.sizes[i]:,}",
             *(_share(tab.counts[label][i], tab.sizes[i]) for label in order),
             _share(tab.unlabelled[i], tab.sizes[i])] for i, group in enumerate(tab.groups)]
    n = int(tab.sizes.sum())
    foot = [["All", f"{n:,}", *(_share(reasons.count(label), n) for label in order),
             _share(int(tab.unlabelled.sum()), n)]]
    head = [what.capitalize(), "Records", *(names[label] for label in order), "No reason"]
    return _img(png, f"departure reasons by {what}") + _table(head, body, foot)


def _over_time(reasons: Reasons, names: dict[str, str], when: Parsed, when_column: str) -> str:
    months, counts, totals = by_month(when.values, reasons)
    if not months:
        return f'<p class="note">No readable dates in column {_e(when_column)}.</p>'
    shown = [label for label in reasons.order if counts[label].any()]
    series = dict(zip(_plot_names([names[label] for label in shown]), (counts[label] for label in shown)))
    return (f'<p class="note">Records per month of <code>{_e(when_column)}</code> carrying each reason.</p>'
            + _img(plots.monthly_lines(months, series, totals), "departure reasons by month"))


def _value(records: pa.Table, column: str, reasons: Reasons, names: dict[str, str]) -> str:
    parsed = parse_column(records.column(column), parse_amount, "float64")
    risk = value_at_risk(parsed.values, reasons)
    ranked = sorted(reasons.order, key=lambda label: -risk.per_label[label])
    png = plots.value_bars(_plot_names([names[label] for label in ranked]),
                           [risk.per_label[label] for label in ranked], "Value at risk per reason")
    body = [[_e(names[label]), f"{reasons.count(label):,}", _amount(risk.per_label[label]),
             _pct(risk.per_label[label], risk.total)] for label in ranked]
    foot = [["Any reason (each record once)", f"{risk.at_risk_records:,}", _amount(risk.at_risk),
             _pct(risk.at_risk, risk.total)], ["All records", f"{records.num_rows:,}", _amount(risk.total), "100%"]]
    note = parsed.note(column, "they count as 0")
    return (f'<p>Sum of <code>{_e(column)}</code> over the records carrying each reason. A record with several '
            "reasons counts under each of them, so the rows add up to more than the total at risk: "
            f"<b>{_amount(risk.at_risk)}</b> over the {risk.at_risk_records:,} records with at least one reason, "
            f"each counted once, which is <b>{_pct(risk.at_risk, risk.total)}</b> of the total "
            f"{_amount(risk.total)}.</p>" + (f'<p class="note warn">{_e(note)}</p>' if note else "")
            + _img(png, "value at risk per reason")
            + _table(["Reason", "Records", "Value at risk", "Share of total value"], body, foot))


def _example(record: dict, label: str) -> str:
    text, lang = record.get("text") or "", record.get("language") or "und"
    evidence = _as_map(record.get("evidence")).get(label) or {}
    start, end = evidence.get("start"), evidence.get("end")
    span = evidence.get("text") or (text[start:end] if start is not None and end is not None else "")
    full = _e(text)
    if span and start is not None and end is not None and text[start:end] == span:
        full = f"{_e(text[:start])}<mark>{_e(span)}</mark>{_e(text[end:])}"
    quote = span or text
    quote = quote if len(quote) <= 400 else quote[:399] + "…"
    score = _as_map(record.get("scores")).get(label)
    meta = [f"language {_e(lang)}", f"score {score:.2f}" if score is not None else "no score",
            f"id {_e(record.get('id'))}"] + ["uncertain"] * bool(record.get("uncertain"))
    meta += [] if span else ["no evidence sentence recorded: start of the text"]
    return (f'<li class="example"><q{_lang(lang)}>{_e(quote)}</q><div class="meta">{" · ".join(meta)}</div>'
            f"<details><summary>Full text</summary><p{_lang(lang)}>{full}</p></details></li>")


def _examples(records: pa.Table, reasons: Reasons, names: dict[str, str]) -> str:
    scores = label_scores(records, reasons.order)
    languages = pc.fill_null(records.column("language"), "und").to_numpy(zero_copy_only=False)
    chosen = {label: pick_examples(reasons.has[label], scores[label], languages) for label in reasons.order}
    indices = sorted({i for picked in chosen.values() for i in picked})
    rows = {i: records.slice(i, 1).to_pylist()[0] for i in indices}  # slices: cheap on many-chunk tables
    return "".join(f"<h3>{_e(names[label])} <small>{reasons.count(label):,} records</small></h3>"
                   '<ul class="examples">' + "".join(_example(rows[i], label) for i in picked) + "</ul>"
                   for label, picked in chosen.items() if picked)


def _how_to_read(taxonomy: Taxonomy) -> str:
    reasons = "".join(f"<dt>{_e(label.display_name('en'))}</dt><dd>{_e(label.description)}</dd>"
                      for label in taxonomy.labels)
    return ("<p>Each record can carry several reasons, or none, so counts per reason add up to more than the "
            "number of records. <b>Scores are calibrated probabilities</b>: of the records scored 0.8 for a "
            "reason, about 80% really give that reason. A reason is assigned when its score reaches that "
            "reason's threshold, chosen on validation data. <b>Uncertain</b> means at least one score lies close "
            "to its threshold: the record is worth a human look. The evidence is the sentence of the feedback "
            "that supports the reason best. Languages are ISO 639-1 codes; <code>und</code> means undetermined. "
            "Records rejected at input (empty, malformed, duplicate ids) are counted above but not analysed.</p>"
            f"<dl>{reasons}</dl>")


def render_page(records: pa.Table, *, taxonomy: Taxonomy, value_column: str | None, segment_columns: Sequence[str],
                date_column: str | None, title: str, rejected: int) -> str:
    """The report as one HTML document."""
    reasons = find_reasons(records, taxonomy)
    names = {label: taxonomy[label].display_name("en") if label in taxonomy.ids else label
             for label in reasons.order}
    when_column = date_column or "processed_at"
    when = (parse_column(records.column(when_column), parse_when, "datetime64[s]")
            if when_column in records.column_names else Parsed(np.full(records.num_rows, np.datetime64("NaT"))))
    sections = [("", _header(records, taxonomy, reasons, when, when_column, rejected))]
    if not records.num_rows:
        sections.append(("", '<p class="warn">No records to report.</p>'))
    elif not reasons.any.any():
        sections.append(("", '<p class="warn">No record carries a departure reason, so there is nothing to '
                             "break down.</p>"))
    else:
        sections.append(("Departure reasons by language",
                         _breakdown(records.column("language"), reasons, names, "language", "und")))
        sections.append(("Departure reasons over time", _over_time(reasons, names, when, when_column)))
        sections += [(f"Departure reasons by {column}",
                      _breakdown(records.column(column), reasons, names, column, "(missing)"))
                     for column in segment_columns]
        if value_column:
            sections.append(("Revenue at risk", _value(records, value_column, reasons, names)))
        sections.append(("What customers said", _examples(records, reasons, names)))
    sections.append(("How to read this report", _how_to_read(taxonomy)))
    body = "".join(f"<section>{f'<h2>{_e(h)}</h2>' if h else ''}{content}</section>" for h, content in sections)
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
            f'<body><h1>{_e(title)}</h1><p class="note">churnlens report, generated {generated}</p>{body}'
            "</body></html>\n")


def write_report(records: pa.Table, output: str | Path, *, taxonomy: Taxonomy, value_column: str | None = None,
                 segment_columns: Sequence[str] = (), date_column: str | None = None,
                 title: str = "Why customers leave", rejected: int = 0) -> Path:
    """Write the report on ``records`` (a tagged table) to ``output`` as one self-contained HTML file.

    Raises ValueError, naming the available columns, when a requested column is absent.
    """
    segment_columns = [segment_columns] if isinstance(segment_columns, str) else list(segment_columns)
    check_columns(records, value_column, segment_columns, date_column)
    page = render_page(records, taxonomy=taxonomy, value_column=value_column, segment_columns=segment_columns,
                       date_column=date_column, title=title, rejected=rejected)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, output)
    return output

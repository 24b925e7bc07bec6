"""`churnlens report`: why customers leave, as one self-contained HTML page built from tagged records.

Aggregates are computed column-wise in ``pipeline.report_data``, so a million records take seconds.
The page has no external resources: CSS is inline and plots are base64 PNG. Every text that comes
from the records (feedback, ids, segment values, versions) is HTML-escaped.
"""
from __future__ import annotations

import html
import os
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import report_plots as plots
from pipeline.report_data import (Parsed, Reasons, as_map, by_month, check_columns, cross_tab, find_reasons,
                                  label_scores, parse_amount, parse_column, parse_when, pick_examples, value_at_risk)
from pipeline.taxonomy import Taxonomy

__all__ = ["write_report", "render_page", "label_scores", "parse_amount", "parse_when", "pick_examples"]

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
    evidence = as_map(record.get("evidence")).get(label) or {}
    start, end = evidence.get("start"), evidence.get("end")
    span = evidence.get("text") or (text[start:end] if start is not None and end is not None else "")
    full = _e(text)
    if span and start is not None and end is not None and text[start:end] == span:
        full = f"{_e(text[:start])}<mark>{_e(span)}</mark>{_e(text[end:])}"
    quote = span or text
    quote = quote if len(quote) <= 400 else quote[:399] + "…"
    score = as_map(record.get("scores")).get(label)
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

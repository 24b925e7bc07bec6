"""The HTML report: numbers, self-containment, escaping, edge cases, and a real headless browser render."""
from __future__ import annotations

import html
import os
import re
import shutil
import signal
import subprocess
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from pipeline.records import TAGGED_SCHEMA
from pipeline import report_plots
from pipeline.report import label_scores, parse_amount, parse_when, pick_examples, write_report

CHROMIUM = Path("/usr/bin/chromium")
SCRIPT = "<script>alert('pwned')</script>"
# id, text, language, labels, revenue (as the CSV pass-through gives it), segment, submitted_at
RECORDS = [
    ("r1", "料金が高すぎるので解約します。サポートも遅い。", "ja", ["price", "responsiveness"], "2400", "SMB", "2026-01-03"),
    ("r2", "Prisen steg igen, så nu skifter vi.", "da", ["price"], "1,200", "enterprise", "2026-01-20"),
    ("r3", "Качество ужасное, развалилось через неделю.", "ru", ["quality"], "n/a", "consumer", "2026-02-14"),
    ("r4", f"Too expensive. {SCRIPT}", "en", ["price"], "300", "SMB", "2026-02-18T09:30:00Z"),
    ("r5", "Personne ne répond au téléphone.", "fr", ["responsiveness"], None, "consumer", "2026/03/01"),
    ("r6", "They promised a refund and it never came.", "en", ["broken_promise", "price"], "€ 1 000", "SMB",
     "2026-03-15"),
    ("r7", "Just moving house, nothing wrong.", "en", [], "450", "enterprise", "2026-03-16"),
    ("r8", "何度も苦情を入れたのに改善されない。", "ja", ["unresolved_complaint"], "75", "consumer", "not a date"),
]
VALUES = {"r1": 2400.0, "r2": 1200.0, "r3": None, "r4": 300.0, "r5": None, "r6": 1000.0, "r7": 450.0, "r8": 75.0}


def tagged_table(records=RECORDS, *, evidence: bool = True) -> pa.Table:
    """A tagged table as `churnlens classify` writes it, with CSV-style string pass-through columns."""
    rows = []
    for n, (rid, text, lang, labels, revenue, segment, submitted) in enumerate(records, 1):
        first = text.split(". ")[0]
        rows.append({
            "id": rid, "text": text, "language": lang, "language_confidence": 0.99, "labels": labels,
            "scores": [(label, round(0.95 - 0.1 * k, 2)) for k, label in enumerate(labels)] + [("quality", 0.02)]
            * ("quality" not in labels),
            "primary_label": labels[0] if labels else None, "uncertain": n == 3,
            "evidence": [(label, {"text": first, "start": 0, "end": len(first)}) for label in labels] if evidence
            else [],
            "model_version": "test-model", "taxonomy_version": "1.0",
            "processed_at": datetime(2026, 4, 1, tzinfo=timezone.utc), "row_number": n,
        })
    table = pa.Table.from_pylist(rows, schema=TAGGED_SCHEMA)
    extra = {"annual_revenue_eur": [r[4] for r in records], "segment": [r[5] for r in records],
             "submitted_at": [r[6] for r in records]}
    for name, values in extra.items():
        table = table.append_column(name, pa.array(values, pa.string()))
    return table


class _Tables(HTMLParser):
    """Every <table> of a page as rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables(page: str) -> list[list[list[str]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


@pytest.fixture()
def report(tmp_path, taxonomy) -> str:
    path = write_report(tagged_table(), tmp_path / "report.html", taxonomy=taxonomy,
                        value_column="annual_revenue_eur", segment_columns=["segment"], date_column="submitted_at",
                        rejected=2)
    return path.read_text(encoding="utf-8")


def test_revenue_at_risk_matches_independent_sums(report, taxonomy):
    per_label: dict[str, float] = {}
    for rid, _, _, labels, *_ in RECORDS:
        for label in labels:
            per_label[label] = per_label.get(label, 0.0) + (VALUES[rid] or 0.0)
    at_risk = sum(VALUES[r[0]] or 0.0 for r in RECORDS if r[3])
    total = sum(v for v in VALUES.values() if v is not None)
    [table] = [t for t in tables(report) if "Value at risk" in t[0]]
    rows = {row[0]: row for row in table[1:]}
    for label, value in per_label.items():
        assert rows[taxonomy[label].display_name("en")][2] == f"{value:,.0f}", label
    assert rows["Any reason (each record once)"][1:] == ["7", f"{at_risk:,.0f}", f"{at_risk / total:.1%}"]
    assert rows["All records"][2] == f"{total:,.0f}"
    assert f"{per_label['price']:,.0f}" == "4,900"  # the thousands separator is there
    text = html.unescape(report)
    assert "1 could not be read (e.g. 'n/a') and 1 are empty; they count as 0" in text
    assert "counts under each of them" in text


def test_page_is_self_contained_and_escapes_user_text(report):
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", report, re.I)
    assert "@import" not in report and "url(" not in report
    # language heatmap, monthly plot, one segment heatmap, revenue bars
    assert report.count('<img src="data:image/png;base64,') == 4
    assert "<script" not in report.lower()
    assert html.escape(SCRIPT) in report


def test_header_language_table_and_examples(report):
    text = html.unescape(report)
    assert "2026-01-03 – 2026-03-16" in text  # dates of submitted_at; 'not a date' is counted instead
    assert "1 could not be read (e.g. 'not a date')" in text
    assert "test-model" in text and "87.5%" in text and "rejected at input" in text
    [by_language] = [t for t in tables(report) if t[0][0] == "Language"]
    ja = next(row for row in by_language if row[0] == "ja")
    assert ja[1] == "2" and ja[2] == "1 50.0%"  # one of the two Japanese records gives price, the top reason
    assert by_language[0][2] == "Price"
    assert '<q lang="ja">料金が高すぎるので解約します。サポートも遅い。</q>' in report


def test_missing_columns_name_the_available_ones(tmp_path, taxonomy):
    with pytest.raises(ValueError, match=r"value column 'revenue' not found .*columns: id, text, language"):
        write_report(tagged_table(), tmp_path / "r.html", taxonomy=taxonomy, value_column="revenue")
    with pytest.raises(ValueError, match=r"segment column 'region' not found .*segment, submitted_at"):
        write_report(tagged_table(), tmp_path / "r.html", taxonomy=taxonomy, segment_columns=["region"])
    with pytest.raises(ValueError, match=r"segment column 'labels' holds lists"):
        write_report(tagged_table(), tmp_path / "r.html", taxonomy=taxonomy, segment_columns=["labels"])
    assert not (tmp_path / "r.html").exists()


def test_empty_and_unlabelled_tables(tmp_path, taxonomy):
    empty = write_report(TAGGED_SCHEMA.empty_table(), tmp_path / "empty.html", taxonomy=taxonomy).read_text()
    assert "No records to report" in empty and "<img" not in empty
    unlabelled = [(r[0], r[1], r[2], [], *r[4:]) for r in RECORDS]
    page = write_report(tagged_table(unlabelled), tmp_path / "none.html", taxonomy=taxonomy,
                        value_column="annual_revenue_eur").read_text()
    assert "No record carries a departure reason" in page


def test_unknown_label_and_missing_evidence(tmp_path, taxonomy):
    records = RECORDS[:3] + [("r9", "Ship was late <b>again</b>", "en", ["delivery<script>"], "10", "<i>VIP</i>",
                              "2026-01-05")]
    page = write_report(tagged_table(records, evidence=False), tmp_path / "r.html", taxonomy=taxonomy,
                        value_column="annual_revenue_eur", segment_columns=["segment"]).read_text()
    assert "Labels not in taxonomy 1.0: delivery&lt;script&gt;" in page
    assert "no evidence sentence recorded" in page
    assert "Ship was late &lt;b&gt;again&lt;/b&gt;" in page and "&lt;i&gt;VIP&lt;/i&gt;" in page
    assert "<script" not in page and "<i>" not in page


def test_dates_default_to_processing_time(tmp_path, taxonomy):
    page = write_report(tagged_table(), tmp_path / "r.html", taxonomy=taxonomy).read_text()
    assert "2026-04-01 – 2026-04-01" in page and "dates (processed_at)" in page
    assert page.count("data:image/png;base64,") == 2


def test_cjk_segment_values_stay_out_of_plots_without_a_cjk_font(tmp_path, taxonomy):
    records = [(r[0], r[1], r[2], r[3], r[4], "法人" if r[5] == "SMB" else r[5], r[6]) for r in RECORDS]
    page = write_report(tagged_table(records), tmp_path / "r.html", taxonomy=taxonomy,
                        segment_columns=["segment"]).read_text()
    assert report_plots.drawable("Price") and report_plots.drawable("Unresolved complaint")
    if len(report_plots.plot_fonts()) == 1:  # no CJK font installed: the plot shows "#1", the table the value
        assert not report_plots.drawable("法人")
        assert "<td>法人 <small>(#1)</small></td>" in page
    else:
        assert report_plots.drawable("法人") and "<td>法人</td>" in page


def test_label_scores_of_a_sliced_many_chunk_table():
    table = pa.concat_tables([tagged_table(), tagged_table(RECORDS[::-1])]).slice(5, 9)
    got = label_scores(table, ["price", "quality"])
    for i, row in enumerate(table.column("scores").to_pylist()):
        expected = dict(row)
        for label in ("price", "quality"):
            assert got[label][i] == expected[label] if label in expected else np.isnan(got[label][i])


def test_examples_prefer_other_languages_then_scores():
    has = np.array([True, True, True, True, False, True])
    scores = np.array([0.99, 0.98, 0.97, 0.60, 1.0, 0.50])
    languages = np.array(["en", "en", "en", "ja", "da", "fr"], dtype=object)
    assert pick_examples(has, scores, languages) == [0, 3, 5]
    assert pick_examples(has, scores, np.array(["en"] * 6, dtype=object)) == [0, 1, 2]
    assert pick_examples(has & (languages != "fr"), scores, languages) == [0, 1, 3]


@pytest.mark.parametrize("raw, expected", [
    ("2400", 2400.0), ("1,200", 1200.0), ("1.234,50", 1234.5), ("€ 1 000", 1000.0), ("12,5", 12.5),
    ("1'200.75", 1200.75), (3, 3.0), ("n/a", None), ("1,2,3", None), ("inf", None), (True, None),
])
def test_parse_amount(raw, expected):
    assert parse_amount(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("2026-01-03", datetime(2026, 1, 3)), ("2026-02-18T09:30:00Z", datetime(2026, 2, 18, 9, 30)),
    ("2026/3/1", datetime(2026, 3, 1)), ("2026-05", datetime(2026, 5, 1)),
    (datetime(2026, 1, 1, 1, tzinfo=timezone.utc), datetime(2026, 1, 1, 1)), ("03/01/2026", None), ("soon", None),
])
def test_parse_when(raw, expected):
    assert parse_when(raw) == expected


def _screenshot(page: Path, out_dir: Path) -> Path:
    """Render ``page`` with headless Chromium into out_dir/shot.png; the process group is killed on a timeout."""
    shot = out_dir / "shot.png"
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", f"--user-data-dir={out_dir / 'profile'}", f"--screenshot={shot}",
               "--window-size=1280,2400", page.resolve().as_uri()]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            env={**os.environ, "HOME": str(out_dir)})
    try:
        _, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("Chromium did not finish the screenshot within 90 s")
    said = err.decode(errors="replace")[-2000:]
    assert shot.exists(), f"Chromium wrote no screenshot (exit {proc.returncode}): {said}"
    return shot


def test_headless_chromium_renders_the_report(tmp_path, taxonomy):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: the browser test needs Chromium; run `make system-deps`")
    from PIL import Image, ImageStat

    page = write_report(tagged_table(), tmp_path / "report.html", taxonomy=taxonomy,
                        value_column="annual_revenue_eur", segment_columns=["segment"], date_column="submitted_at")
    shot = _screenshot(page, tmp_path)
    shutil.copy(shot, "/tmp/report-shot.png")
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 2400)
    colours = image.getcolors(maxcolors=1 << 22)
    assert len(colours) > 100, "the screenshot is (nearly) blank"
    assert max(ImageStat.Stat(image).stddev) > 20
    top = image.crop((0, 0, 1280, 400)).convert("L")
    assert top.getextrema()[0] < 100, "no dark text at the top of the page (the title and header)"

"""The report's plots, drawn with matplotlib (no pyplot, no display) and returned as base64 PNG.

Labels are English display names, language codes and segment values. A label with characters no
installed font can draw (CJK without a CJK font, say) is replaced by a placeholder that the caller
explains in the HTML; the page itself shows the real text, which the browser renders.
"""
from __future__ import annotations

import base64
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

BASE_FONT = "DejaVu Sans"
CJK_FONTS = ("Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Sans JP", "Source Han Sans", "IPAexGothic", "IPAGothic",
             "TakaoGothic", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback", "Unifont")
COLOURS = ("#2f6db5", "#e07b39", "#3a9e6f", "#c44e52", "#8172b2", "#937860", "#da8bc3", "#8c8c8c", "#ccb974",
           "#64b5cd")


@lru_cache(maxsize=1)
def plot_fonts() -> tuple[str, ...]:
    """Font families to draw with: DejaVu Sans, then a CJK font if one is installed."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return (BASE_FONT,) + tuple(name for name in CJK_FONTS if name in installed)[:1]


@lru_cache(maxsize=1)
def _drawable() -> frozenset[int]:
    """Code points the plot fonts have glyphs for."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    points: set[int] = set()
    for family in plot_fonts():
        path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
        points.update(FT2Font(path).get_charmap())
    return frozenset(points)


def drawable(text: str) -> bool:
    """Whether every character of ``text`` has a glyph in the plot fonts."""
    glyphs = _drawable()
    return all(ord(ch) in glyphs or ch.isspace() for ch in text)


@contextmanager
def _figure(width: float, height: float) -> Iterator[Figure]:
    """A figure drawn with the report's fonts and colours; no pyplot, so no global backend or display."""
    import matplotlib as mpl
    from cycler import cycler
    from matplotlib.figure import Figure

    style = {"font.family": list(plot_fonts()), "font.size": 10, "text.parse_math": False,
             "axes.prop_cycle": cycler(color=COLOURS), "axes.spines.top": False, "axes.spines.right": False}
    with mpl.rc_context(style):
        yield Figure(figsize=(width, height))


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", facecolor="white")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def heatmap(shares: Sequence[Sequence[float]], counts: Sequence[Sequence[int]], rows: Sequence[str],
            columns: Sequence[str], title: str, xlabel: str) -> str:
    """Rows × columns of shares (0–1), each cell annotated with its percentage and count."""
    with _figure(max(5.0, 1.0 + 0.85 * len(columns)), 0.9 + 0.55 * len(rows)) as fig:
        ax = fig.add_subplot()
        top = max((share for row in shares for share in row), default=0.0)
        image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=max(0.05, top), aspect="auto")
        ax.set_xticks(range(len(columns)), columns, rotation=30 if len(columns) > 6 else 0,
                      ha="right" if len(columns) > 6 else "center")
        ax.set_yticks(range(len(rows)), rows)
        ax.set_xlabel(xlabel)
        ax.set_title(title, loc="left")
        ax.tick_params(length=0)
        for side in ax.spines.values():
            side.set_visible(False)
        limit = image.get_clim()[1]
        for i, row in enumerate(shares):
            for j, share in enumerate(row):
                dark = share > 0.6 * limit
                ax.text(j, i, f"{share:.0%}\n{counts[i][j]:,}", ha="center", va="center", fontsize=8,
                        color="white" if dark else "#222222")
        fig.colorbar(image, ax=ax, format=lambda v, _: f"{v:.0%}", fraction=0.04, pad=0.02)
        return _png(fig)


def monthly_lines(months: Sequence[str], series: dict[str, Sequence[int]], totals: Sequence[int]) -> str:
    """Records carrying each reason per month, with all records per month as a dashed grey line."""
    from matplotlib.ticker import MaxNLocator

    with _figure(9.5, 4.2) as fig:
        ax = fig.add_subplot()
        x = range(len(months))
        ax.plot(x, totals, color="#999999", linestyle="--", linewidth=1.2, label="All records")
        for name, counts in series.items():
            ax.plot(x, counts, marker="o", markersize=4, linewidth=1.8, label=name)
        step = max(1, len(months) // 14)
        ax.set_xticks(list(x)[::step], list(months)[::step], rotation=30 if len(months) > 8 else 0,
                      ha="right" if len(months) > 8 else "center")
        ax.set_ylabel("records")
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(axis="y", color="#e5e5e5")
        ax.set_title("Departure reasons by month", loc="left")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        return _png(fig)


def value_bars(names: Sequence[str], values: Sequence[float], title: str) -> str:
    """Horizontal bars of the value at risk per reason, largest on top, labelled with thousands separators."""
    with _figure(8.5, 0.8 + 0.5 * len(names)) as fig:
        ax = fig.add_subplot()
        y = range(len(names))
        ax.barh(y, values, color=COLOURS[0])
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        top = max(values, default=0) or 1
        for i, value in enumerate(values):
            ax.text(value + 0.01 * top, i, f"{value:,.0f}", va="center", fontsize=9)
        ax.set_xlim(min(0.0, min(values, default=0.0)), top * 1.15)
        ax.xaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
        ax.grid(axis="x", color="#e5e5e5")
        ax.set_axisbelow(True)
        ax.set_title(title, loc="left")
        return _png(fig)

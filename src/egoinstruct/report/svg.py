"""Inline SVG figures for the report: label "barcodes" on the session clock and stacked bars.

SVG is written by hand (no plotting library): it is fast, crisp at any zoom, embeds in the HTML
as text and needs nothing from outside the file. Every rectangle carries a ``<title>`` with its
label and time span, which browsers show on hover.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from egoinstruct.report.html import esc

# A qualitative palette (12 distinguishable colours); labels get colours by their position in
# their label set, so a label keeps its colour in every session and method.
PALETTE = (
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948",
    "#b07aa1", "#ff9da7", "#9c755f", "#86bcb6", "#d37295", "#8cd17d",
)
BACKGROUND_COLOUR = "#dcdfe5"
ERROR_COLOURS = {"unparseable": "#2b2b2b", "no_prediction": "#ffffff"}
OTHER_COLOUR = "#7f7f7f"


def label_colours(groups: Mapping[str, Sequence[str]], background: Sequence[str]) -> dict[str, str]:
    """Colour of every label: background grey, error labels black/white, the others by their
    position in their group's label set (background labels not counted)."""
    colours = {label: BACKGROUND_COLOUR for label in background}
    colours.update(ERROR_COLOURS)
    for labels in groups.values():
        position = 0
        for label in labels:
            if label in colours:
                continue
            colours[label] = PALETTE[position % len(PALETTE)]
            position += 1
    return colours


@dataclass(frozen=True)
class Run:
    label: str
    start: float
    end: float


def runs(times: np.ndarray, labels: Sequence[str], step: float) -> list[Run]:
    """Maximal runs of equal labels on a grid of spacing ``step``; a gap in the times (more than
    1.5 steps: unlabelled, unscored frames) ends a run. Each run ends one step after its last
    frame."""
    out: list[Run] = []
    if len(times) == 0:
        return out
    start = 0
    for i in range(1, len(times) + 1):
        if i == len(times) or labels[i] != labels[start] or times[i] - times[i - 1] > 1.5 * step:
            out.append(Run(labels[start], float(times[start]), float(times[i - 1] + step)))
            start = i
    return out


def decimate(
    times: np.ndarray, labels: Sequence[str], step: float, end_s: float, columns: int
) -> tuple[np.ndarray, list[str], float]:
    """A row with more frames than twice the pixel ``columns``, sampled once per column (the
    label at each column's centre; gaps stay gaps), so a long session draws at most ``columns``
    rectangles per row; shorter rows are returned as they are."""
    times = np.asarray(times, dtype=float)
    if len(times) <= 2 * columns:
        return times, list(labels), step
    width = end_s / columns
    centres = (np.arange(columns) + 0.5) * width
    index = np.searchsorted(times, centres, side="right") - 1
    ok = (index >= 0) & (centres - times[np.clip(index, 0, None)] <= 1.5 * step)
    return np.arange(columns)[ok] * width, [labels[i] for i in index[ok]], width


def nice_step(span: float, max_ticks: int = 12) -> float:
    """A tick spacing from 1-2-5 × 10^k (s) giving at most ``max_ticks`` ticks over ``span``."""
    if span <= 0:
        return 1.0
    raw = span / max_ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power


def timeline(
    title: str,
    rows: Sequence[tuple[str, np.ndarray, Sequence[str]]],
    step: float,
    end_s: float,
    colours: Mapping[str, str],
    width: int = 1100,
) -> str:
    """Label barcodes, one row per (name, times, labels), on a shared session-clock axis from 0
    to ``end_s``, with a legend of the labels that occur."""
    left, right, row_h, gap, top = 190, 16, 18, 5, 22
    plot_w = width - left - right
    end_s = max(end_s, step)
    scale = plot_w / end_s
    parts: list[str] = []
    used: list[str] = []
    y = top
    for name, times, labels in rows:
        parts.append(
            f'<text x="{left - 8}" y="{y + row_h - 5}" text-anchor="end" class="rowname">{esc(name)}</text>'
            f'<rect x="{left}" y="{y}" width="{plot_w}" height="{row_h}" fill="#fafafa" stroke="#e3e6ec"/>'
        )
        row_times, row_labels, row_step = decimate(times, labels, step, end_s, plot_w)
        for run in runs(row_times, row_labels, row_step):
            if run.label not in used:
                used.append(run.label)
            x = left + run.start * scale
            w = max((run.end - run.start) * scale, 0.6)
            colour = colours.get(run.label, OTHER_COLOUR)
            outline = ' stroke="#999" stroke-width="0.6"' if colour == "#ffffff" else ""
            parts.append(
                f'<rect x="{x:.2f}" y="{y}" width="{w:.2f}" height="{row_h}" fill="{colour}"{outline}>'
                f"<title>{esc(run.label)}: {run.start:.1f}–{run.end:.1f} s</title></rect>"
            )
        y += row_h + gap
    axis_y = y + 2
    tick = nice_step(end_s)
    ticks = []
    t = 0.0
    while t <= end_s + 1e-9:
        x = left + t * scale
        ticks.append(
            f'<line x1="{x:.2f}" y1="{top - 3}" x2="{x:.2f}" y2="{axis_y + 4}" stroke="#0001"/>'
            f'<text x="{x:.2f}" y="{axis_y + 16}" text-anchor="middle" class="tick">{t:g}</text>'
        )
        t += tick
    legend_y = axis_y + 36
    legend, x = [], float(left)
    for label in used:
        text_w = 7.0 * len(label) + 26
        if x + text_w > width - right:
            x, legend_y = float(left), legend_y + 16
        outline = "#999" if colours.get(label) == "#ffffff" else "#0003"
        legend.append(
            f'<rect x="{x:.1f}" y="{legend_y - 10}" width="11" height="11" '
            f'fill="{colours.get(label, OTHER_COLOUR)}" stroke="{outline}"/>'
            f'<text x="{x + 15:.1f}" y="{legend_y}" class="legend">{esc(label)}</text>'
        )
        x += text_w
    height = legend_y + 10
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}">'
        "<style>text{font:11px system-ui,Arial,sans-serif;fill:#1d2330}.tick{fill:#5b6475}"
        ".rowname{font-weight:600}</style>"
        f'<text x="{left}" y="14" class="rowname">{esc(title)}</text>'
        + "".join(ticks)
        + "".join(parts)
        + f'<text x="{left - 8}" y="{axis_y + 16}" text-anchor="end" class="tick">session clock (s)</text>'
        + "".join(legend)
        + "</svg>"
    )


def stacked_bar(
    title: str, shares: Sequence[tuple[str, float]], colours: Mapping[str, str], width: int = 700
) -> str:
    """One horizontal bar split by ``shares`` (label, value), with each part's percentage."""
    total = sum(v for _, v in shares) or 1.0
    left, bar_h = 0, 20
    parts, x = [], float(left)
    legend, lx, ly = [], 0.0, bar_h + 38
    for label, value in shares:
        w = width * value / total
        colour = colours.get(label, OTHER_COLOUR)
        parts.append(
            f'<rect x="{x:.2f}" y="18" width="{w:.2f}" height="{bar_h}" fill="{colour}" stroke="#fff" stroke-width="0.5">'
            f"<title>{esc(label)}: {value:.1f} s ({100 * value / total:.1f} %)</title></rect>"
        )
        x += w
        text = f"{label} {100 * value / total:.0f} %"
        text_w = 6.6 * len(text) + 24
        if lx + text_w > width:
            lx, ly = 0.0, ly + 15
        legend.append(
            f'<rect x="{lx:.1f}" y="{ly - 10}" width="10" height="10" fill="{colour}" stroke="#0003"/>'
            f'<text x="{lx + 14:.1f}" y="{ly}">{esc(text)}</text>'
        )
        lx += text_w
    height = ly + 8
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{esc(title)}"><style>text{{font:11px system-ui,Arial,sans-serif;fill:#1d2330}}</style>'
        f'<text x="0" y="12" style="font-weight:600">{esc(title)}</text>'
        + "".join(parts)
        + "".join(legend)
        + "</svg>"
    )


def heat(value: float) -> str:
    """Background colour of a confusion-matrix cell from its row share (0–1)."""
    value = 0.0 if not math.isfinite(value) else min(max(value, 0.0), 1.0)
    return f"rgba(43, 93, 156, {0.08 + 0.85 * value:.3f})" if value > 0 else "#ffffff"

"""Small, dependency-free HTML building blocks for the self-contained report.

Everything is escaped here (:func:`esc`), styles are one inline ``<style>`` block (:data:`CSS`),
and nothing refers to an external resource: no scripts, fonts, stylesheets or remote images.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence

import pandas as pd

CSS = """
:root { --ink: #1d2330; --muted: #5b6475; --line: #d8dde6; --band: #f4f6fa; --accent: #2b5d9c; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--ink); margin: 0; background: #fff; }
header { background: #1f2a3d; color: #fff; padding: 18px 32px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 2px 0; color: #c9d3e6; }
main { padding: 8px 32px 48px; max-width: 1500px; }
nav { margin: 12px 0 4px; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; }
h2 { border-bottom: 2px solid var(--line); padding-bottom: 4px; margin-top: 34px; font-size: 19px; }
h3 { margin: 22px 0 6px; font-size: 16px; }
h4 { margin: 14px 0 4px; font-size: 14px; }
p.note, .note { color: var(--muted); font-size: 12.5px; margin: 4px 0 10px; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: var(--band); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.group th { background: #e6ebf3; text-align: center; }
tr.kind-reference td { background: #fbfbf3; }
td.best { font-weight: 700; }
table.compact { font-size: 12px; }
table.compact td .note { font-size: 11px; white-space: nowrap; }
td.yes { text-align: center; color: #1d7a3a; font-weight: 700; }
td.no { text-align: center; color: #b8bec9; }
.cm td { text-align: right; min-width: 34px; font-variant-numeric: tabular-nums; }
.cm th.col { writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap; font-weight: 500;
             max-height: 190px; }
.cm th.row { white-space: nowrap; font-weight: 500; }
.scroll { max-width: 100%; overflow-x: auto; }
.grid { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; background: #fff; }
.card h4 { margin-top: 2px; }
.timeline { margin: 4px 0 14px; }
details { margin: 6px 0 12px; }
summary { cursor: pointer; color: var(--accent); }
.kv td:first-child { color: var(--muted); white-space: nowrap; }
.empty { color: var(--muted); font-style: italic; }
.swatch { display: inline-block; width: 11px; height: 11px; border: 1px solid #0003; margin-right: 4px;
          vertical-align: -1px; }
code { background: var(--band); padding: 0 3px; border-radius: 3px; font-size: 12.5px; }
img.figure { max-width: 100%; border: 1px solid var(--line); }
"""


def esc(value: object) -> str:
    """HTML-escaped text of ``value`` (quotes included)."""
    return html.escape(str(value), quote=True)


def is_missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        return bool(pd.isna(value)) if not isinstance(value, list | tuple | dict) else False
    except (TypeError, ValueError):
        return False


def fmt(value: object, digits: int = 1) -> str:
    """A number with ``digits`` decimals (integers as they are); ``—`` for missing values."""
    if is_missing(value):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) or (hasattr(value, "dtype") and "int" in str(getattr(value, "dtype", ""))):
        return f"{int(value):,}".replace(",", " ")
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(
    frame: pd.DataFrame,
    formats: dict[str, int] | None = None,
    classes: str = "",
    empty: str = "nothing to show",
    max_rows: int | None = None,
) -> str:
    """An HTML table of ``frame``; numeric columns right-aligned with ``formats[column]``
    decimals (default 1); at most ``max_rows`` rows (a note says how many were left out)."""
    if frame.empty:
        return f'<p class="empty">{esc(empty)}</p>'
    formats = formats or {}
    shown = frame if max_rows is None else frame.head(max_rows)
    numeric = {c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and frame[c].dtype != bool}
    head = "".join(f'<th class="{"num" if c in numeric else ""}">{esc(c)}</th>' for c in frame.columns)
    body = []
    for row in shown.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, row, strict=True):
            if column in numeric:
                cells.append(f'<td class="num">{esc(fmt(value, formats.get(column, 1)))}</td>')
            else:
                cells.append(f"<td>{esc(fmt(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = (
        f'<p class="note">{len(frame) - len(shown)} more rows in the CSV.</p>'
        if max_rows is not None and len(frame) > max_rows
        else ""
    )
    return (
        f'<div class="scroll"><table class="{esc(classes)}"><thead><tr>{head}</tr></thead>'
        f'<tbody>{"".join(body)}</tbody></table></div>{more}'
    )


def key_values(items: Iterable[tuple[str, object]]) -> str:
    """A two-column table of (key, value) pairs."""
    rows = "".join(f"<tr><td>{esc(k)}</td><td>{esc(fmt(v))}</td></tr>" for k, v in items)
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def section(anchor: str, title: str, body: Sequence[str] | str) -> str:
    parts = body if isinstance(body, str) else "\n".join(body)
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>\n{parts}\n</section>'


def details(summary_text: str, body: str, open_: bool = False) -> str:
    return f"<details{' open' if open_ else ''}><summary>{esc(summary_text)}</summary>{body}</details>"


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def link(href: str, text: str) -> str:
    """A relative link (never to another host: the report must open offline)."""
    if "://" in href or href.startswith("//"):
        raise ValueError(f"the report links only to its own files, not to {href!r}")
    return f'<a href="{esc(href)}">{esc(text)}</a>'


def page(title: str, subtitle: Sequence[str], nav: Sequence[tuple[str, str]], sections: Sequence[str]) -> str:
    """The whole document: inline CSS, a header, a table of contents and the sections."""
    links = " ".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t in nav)
    lines = "".join(f"<p>{esc(s)}</p>" for s in subtitle)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1>{lines}</header><main><nav>{links}</nav>"
        + "\n".join(sections)
        + "</main></body></html>\n"
    )


def data_uri_png(data: bytes) -> str:
    """``data:`` URI of PNG bytes (images are embedded, never linked)."""
    import base64

    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")

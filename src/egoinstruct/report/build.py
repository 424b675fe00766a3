"""Build the metrics report: ``index.html`` (self-contained), ``summary.md``, CSV tables, SVG timelines.

Reads exactly the files of :class:`ReportInputs` — the report rule's declared inputs: the
evaluation's outputs per task (:mod:`egoinstruct.evaluation`), the per-session data files, the
MLLM run summaries, the demo-truth comparison, the folds and training records — and nothing
else; a missing one is an error naming it, never an emptier report. It renders with any subset
of methods (none, baselines only, zero-shot only, a task without methods). Everything the page
shows is embedded: CSS inline, figures as inline SVG, training curves as base64 PNG; the only
links are relative ones to the CSV tables written beside it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from egoinstruct.curves import training_curves_png
from egoinstruct.errors import InputError
from egoinstruct.evaluation import KINDS, MAJORITY_METHOD, NO_PREDICTION, UNPARSEABLE
from egoinstruct.io import atomic_path, write_text
from egoinstruct.mllm.usage import usage_table
from egoinstruct.report import data as report_data
from egoinstruct.report.explorer import SessionLayers, build_session_page, write_index
from egoinstruct.report.html import (
    data_uri_png,
    details,
    esc,
    fmt,
    is_missing,
    key_values,
    link,
    note,
    page,
    section,
    table,
)
from egoinstruct.report.provenance import provenance, short_commit
from egoinstruct.report.svg import heat, label_colours, stacked_bar, timeline
from egoinstruct.tasks import TASKS

log = logging.getLogger(__name__)

METRIC_TITLES = {
    "accuracy": "Acc", "edit": "Edit", "macro_f1": "macro-F1", "window_accuracy": "window Acc",
    "window_macro_f1": "window macro-F1",
}
MODALITY_ORDER = ("text", "transcript", "image", "video", "audio", "visual", "gaze", "head_motion", "prosody")


def task_title(task: str) -> str:
    return TASKS[task].title if task in TASKS else task


def metric_title(metric: str) -> str:
    return METRIC_TITLES.get(metric, metric.replace("f1@", "F1@"))


@dataclass
class TaskMetrics:
    """The evaluation outputs of one task (empty frames when the task was not evaluated)."""

    task: str
    meta: dict[str, Any]
    main: pd.DataFrame
    per_fold: pd.DataFrame
    per_session: pd.DataFrame
    per_class: pd.DataFrame
    confusion: pd.DataFrame
    paired: pd.DataFrame
    frames: pd.DataFrame

    @property
    def metrics(self) -> list[str]:
        return list(self.meta.get("metrics") or [])

    @property
    def methods(self) -> list[str]:
        return order_methods(self.main)


def load_task(task: str, files: Mapping[str, str | Path]) -> TaskMetrics:
    """Read the evaluation's outputs of one task (output name -> path, every one required)."""

    def csv(name: str) -> pd.DataFrame:
        path = report_data.required(files[name])
        # a table without methods is a header-only CSV (or empty): an empty frame
        return pd.read_csv(path, keep_default_na=True) if path.stat().st_size else pd.DataFrame()

    meta = report_data.read_json(files["summary"])
    frames = pq.read_table(report_data.required(files["frames"])).to_pandas()
    return TaskMetrics(task, meta, csv("main"), csv("per_fold"), csv("per_session"), csv("per_class"),
                       csv("confusion"), csv("paired_tests"), frames)


def scored_sessions(tasks: Mapping[str, TaskMetrics]) -> pd.DataFrame:
    """Per task, the annotated sessions it was scored on (those with its labels that a method
    predicts): a session may label one task only."""
    rows = [{"task": name, "n_sessions": len(task.meta.get("sessions") or {}),
             "sessions": ", ".join(sorted(task.meta.get("sessions") or {}))} for name, task in tasks.items()]
    return pd.DataFrame(rows, columns=["task", "n_sessions", "sessions"])


def scored_sentence(scored: pd.DataFrame) -> str:
    parts = [f"{row.task} on {row.n_sessions} session{'s' if row.n_sessions != 1 else ''}"
             + (f" ({row.sessions})" if row.n_sessions else "") for row in scored.itertuples()]
    return "Scored: " + "; ".join(parts) + "."


def order_methods(main: pd.DataFrame) -> list[str]:
    """Methods in table order: reference, baselines, zero-shot; by name within a kind."""
    if main.empty:
        return []
    rank = {k: i for i, k in enumerate(KINDS)}
    rows = sorted(main.itertuples(index=False), key=lambda r: (rank.get(r.kind, len(rank)), str(r.method)))
    return [str(r.method) for r in rows]


@dataclass
class ReportInputs:
    """Every file the report reads (the report rule's inputs) and what it says about them.

    ``metrics``: task -> evaluation output name -> path; ``probes`` / ``syncs`` / ``speech``: one
    ``probe.json`` / ``sync.json`` / ``transcript.json`` per session; ``mllm``: the
    ``summary.json`` of every MLLM run; ``demo_quality``: the demo-truth comparison (None: no demo
    sessions); ``folds`` and ``training``: each cross-validated task's ``folds.json`` by task and
    each cross-validated baseline's ``training.json`` by (task, method, fold) (empty: no baselines).
    """

    tasks: Sequence[str]
    metrics: Mapping[str, Mapping[str, str | Path]]
    sessions: Sequence[str]
    procedures: Mapping[str, str | None]
    probes: Mapping[str, str | Path]
    syncs: Mapping[str, str | Path]
    speech: Mapping[str, str | Path]
    overview: str | Path
    mllm: Sequence[str | Path] = ()
    demo_quality: str | Path | None = None
    demo_sessions: Sequence[str] = ()  # synthetic sessions: every figure on them is labelled so
    folds: Mapping[str, str | Path] = field(default_factory=dict)
    training: Mapping[tuple[str, str, int], str | Path] = field(default_factory=dict)
    title: str = "egoinstruct — evaluation report"
    timeline_sessions: Sequence[str] = ()
    config_hash: str = ""
    repo: str | Path = "."
    # session -> the files of its explorer page (egoinstruct.report.explorer); empty: no pages
    explorer: Mapping[str, SessionLayers] = field(default_factory=dict)

    def paths(self) -> list[Path]:
        """Every input file."""
        named = [*self.probes.values(), *self.syncs.values(), *self.speech.values(), self.overview, *self.mllm,
                 *self.training.values(), *self.folds.values(),
                 *(p for files in self.metrics.values() for p in files.values())]
        named += [p for p in (self.demo_quality,) if p is not None]
        named += [p for layers in self.explorer.values() for p in layers.paths()]
        return [Path(p) for p in named]

    def check(self) -> None:
        """Every input exists and every session has its files; an :class:`InputError` listing what
        is missing otherwise (the report never renders around a missing file)."""
        absent = [f"session {s}: {what}" for what, files in (("probe.json", self.probes), ("sync.json", self.syncs),
                                                                ("transcript.json", self.speech))
                  for s in self.sessions if s not in files]
        absent += [str(p) for p in self.paths() if not p.is_file()]
        if absent:
            raise InputError(
                "the report's inputs are incomplete: " + "; ".join(absent) + ". They are outputs of earlier "
                "rules: run the whole workflow (snakemake) rather than the report alone, and do not move or "
                "rename files under results/"
            )


@dataclass(frozen=True)
class ReportOutputs:
    html: Path
    summary: Path
    tables: Path
    timelines: Path
    sessions: Path | None = None  # the explorer pages' folder (sessions/{session}.html)

    @classmethod
    def in_folder(cls, folder: str | Path) -> ReportOutputs:
        folder = Path(folder)
        return cls(folder / "index.html", folder / "summary.md", folder / "tables", folder / "timelines",
                   folder / "sessions")


# --- cells -------------------------------------------------------------------------------------------


def headline_cell(row: Mapping[str, Any], metric: str) -> tuple[str, float]:
    """(text, value) of a metric's headline: ``mean ± std`` over folds, or the pooled value
    with † for methods without folds."""
    mean = row.get(f"{metric}_mean")
    std = row.get(f"{metric}_std")
    if is_missing(mean):
        return "—", float("nan")
    if int(row.get("folds") or 0) > 0:
        return f"{mean:.1f} ± {std:.1f}", float(mean)
    return f"{mean:.1f}†", float(mean)


def best_methods(main: pd.DataFrame, metrics: Sequence[str]) -> dict[str, str]:
    """Per metric, the non-reference method with the highest headline value."""
    out = {}
    candidates = main[main.kind != "reference"] if not main.empty else main
    for metric in metrics:
        column = f"{metric}_mean"
        if candidates.empty or column not in candidates or candidates[column].isna().all():
            continue
        out[metric] = str(candidates.loc[candidates[column].idxmax(), "method"])
    return out


# --- sections ---------------------------------------------------------------------------------------


def main_metrics(task: TaskMetrics) -> list[str]:
    """Metrics of the paper-style main table (the rest are in each task's detailed table): segment
    metrics and frame accuracy for segmental tasks, frame-level ones otherwise."""
    segmental = TASKS[task.task].segmental if task.task in TASKS else False
    excluded = {"macro_f1"} if segmental else {"window_accuracy", "window_macro_f1"}
    return [m for m in task.metrics if m not in excluded]


def main_table(tasks: Mapping[str, TaskMetrics], registry: Mapping[str, Mapping[str, Any]]) -> tuple[str, pd.DataFrame]:
    """The paper-style table: methods × metrics of both tasks (HTML and a CSV frame)."""
    methods: list[tuple[str, str]] = []
    for task in tasks.values():
        for method in task.methods:
            kind = str(task.main.set_index("method").loc[method, "kind"])
            if method not in [m for m, _ in methods]:
                methods.append((method, kind))
    rank = {k: i for i, k in enumerate(KINDS)}
    methods.sort(key=lambda mk: (rank.get(mk[1], len(rank)), mk[0]))
    if not methods:
        return '<p class="empty">No method was evaluated: no predictions are registered for any task.</p>', pd.DataFrame()
    group_row = '<tr class="group"><th colspan="3"></th>' + "".join(
        f'<th colspan="{max(1, len(main_metrics(t)))}">{esc(task_title(name))}</th>'
        for name, t in tasks.items()
    ) + "</tr>"
    metric_row = "<tr><th>method</th><th>kind</th><th>inputs</th>" + "".join(
        "".join(f'<th class="num">{esc(metric_title(m))}</th>' for m in main_metrics(t)) or "<th>—</th>"
        for t in tasks.values()
    ) + "</tr>"
    body, csv_rows = [], []
    for method, kind in methods:
        cells = [f"<td>{esc(method)}</td><td>{esc(kind)}</td>"]
        inputs = sorted({i for task in tasks for i in registry.get(task, {}).get(method, {}).get("inputs", [])})
        cells.append(f"<td>{esc(', '.join(inputs) or ('ground-truth prior' if method == MAJORITY_METHOD else '—'))}</td>")
        csv_row: dict[str, Any] = {"method": method, "kind": kind, "inputs": ",".join(inputs)}
        for name, task in tasks.items():
            metrics = main_metrics(task)
            if not metrics:
                cells.append('<td class="num">—</td>')
                continue
            best = best_methods(task.main, metrics)
            rows = task.main[task.main.method == method] if not task.main.empty else task.main
            row = rows.iloc[0].to_dict() if not rows.empty else {}
            for metric in metrics:
                text, value = headline_cell(row, metric) if row else ("—", float("nan"))
                klass = "num best" if best.get(metric) == method else "num"
                cells.append(f'<td class="{klass}">{esc(text)}</td>')
                csv_row[f"{name}_{metric}"] = value
                csv_row[f"{name}_{metric}_std"] = row.get(f"{metric}_std", float("nan")) if row else float("nan")
            csv_row[f"{name}_note"] = row.get("note", "") if row else "not evaluated"
        body.append(f'<tr class="kind-{esc(kind)}">' + "".join(cells) + "</tr>")
        csv_rows.append(csv_row)
    html = f'<div class="scroll"><table><thead>{group_row}{metric_row}</thead><tbody>{"".join(body)}</tbody></table></div>'
    return html, pd.DataFrame(csv_rows)


def detailed_table(task: TaskMetrics) -> str:
    """Every metric of one task: headline, pooled value and its bootstrap CI, frames, notes."""
    if task.main.empty:
        return '<p class="empty">No method was evaluated for this task.</p>'
    confidence = 100 * ((task.meta.get("settings") or {}).get("bootstrap") or {}).get("confidence", 0.95)
    head = "<tr><th>method</th><th>kind</th><th class=\"num\">folds</th><th class=\"num\">sessions</th>" \
           "<th class=\"num\">frames</th>" + "".join(f'<th class="num">{esc(metric_title(m))}</th>' for m in task.metrics) \
           + "<th>how</th></tr>"
    rows = []
    main = task.main.set_index("method")
    for method in task.methods:
        row = main.loc[method].to_dict()
        cells = []
        for metric in task.metrics:
            text, _ = headline_cell(row, metric)
            pooled = row.get(f"{metric}_pooled")
            low, high = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
            ci = f"pooled {fmt(pooled)} [{fmt(low)}, {fmt(high)}]"
            cells.append(f'<td class="num">{esc(text)}<br><span class="note">{esc(ci)}</span></td>')
        rows.append(
            f'<tr class="kind-{esc(row["kind"])}"><td>{esc(method)}</td><td>{esc(row["kind"])}</td>'
            f'<td class="num">{fmt(int(row["folds"]))}</td><td class="num">{fmt(int(row["sessions"]))}</td>'
            f'<td class="num">{fmt(int(row["frames"]))}</td>{"".join(cells)}<td>{esc(row["note"])}</td></tr>'
        )
    return (
        f'<div class="scroll"><table class="compact"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></div>'
        + note(f"Second line: the metric pooled over all sessions of the method and its {confidence:.0f} % "
               "percentile bootstrap CI over sessions.")
    )


def paired_table(task: TaskMetrics) -> str:
    if task.paired.empty:
        return '<p class="empty">No paired test (needs two methods with at least two common sessions).</p>'
    rows = []
    for (a, b, why, n), group in task.paired.groupby(["method_a", "method_b", "why", "n_sessions"], sort=False):
        by_metric = group.set_index("metric")
        cells = []
        for metric in task.metrics:
            if metric not in by_metric.index:
                cells.append('<td class="num">—</td>')
                continue
            r = by_metric.loc[metric]
            p = r.p_value
            mark = " *" if not is_missing(p) and p < 0.05 else ""
            cells.append(f'<td class="num">{r.difference:+.1f} (p {esc(p_text(p))}){mark}</td>')
        rows.append(f"<tr><td>{esc(a)} − {esc(b)}</td><td>{esc(why)}</td><td class=\"num\">{int(n)}</td>{''.join(cells)}</tr>")
    head = "<tr><th>difference</th><th>why</th><th class=\"num\">sessions</th>" + "".join(
        f'<th class="num">{esc(metric_title(m))}</th>' for m in task.metrics) + "</tr>"
    caveat = (
        " With fewer than 10 common sessions the bootstrap distribution is coarse (a difference of the same sign "
        "in every session gives p = 0): read such p-values as descriptive."
        if task.paired.n_sessions.min() < 10 else ""
    )
    return (
        f'<div class="scroll"><table><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></div>'
        + note("Difference of the pooled metric (A − B) on the sessions both methods predict; two-sided paired "
               "bootstrap over sessions; * p < 0.05 (not corrected for multiple comparisons)." + caveat)
    )


def p_text(p: object) -> str:
    """A p-value for display: three decimals, ``< 0.001`` below that, ``—`` when missing."""
    if is_missing(p):
        return "—"
    return "< 0.001" if float(p) < 0.001 else f"{float(p):.3f}"


def modality_table(
    tasks: Mapping[str, TaskMetrics], registry: Mapping[str, Mapping[str, Any]], usage: pd.DataFrame
) -> tuple[str, pd.DataFrame]:
    """Which inputs each method saw (registry), with the task's primary metric beside it."""
    rows = []
    for name, task in tasks.items():
        primary = ((task.meta.get("settings") or {}).get("primary_metric") or {}).get(name)
        main = task.main.set_index("method") if not task.main.empty else pd.DataFrame()
        for method in task.methods:
            entry = registry.get(name, {}).get(method, {})
            shown = ""
            if not usage.empty:
                match = usage[(usage.task == name) & (usage.method == method)]
                shown = match.inputs_shown.iloc[0] if not match.empty else ""
            text, _ = headline_cell(main.loc[method].to_dict(), primary) if primary else ("—", 0.0)
            rows.append({"task": name, "method": method, "kind": main.loc[method, "kind"],
                         "inputs": list(entry.get("inputs", [])), "shown": shown,
                         "primary_metric": primary or "", "value": text})
    if not rows:
        return '<p class="empty">No method was evaluated.</p>', pd.DataFrame()
    modalities = sorted({m for r in rows for m in r["inputs"]},
                        key=lambda m: (MODALITY_ORDER.index(m) if m in MODALITY_ORDER else len(MODALITY_ORDER), m))
    head = "<tr><th>task</th><th>method</th><th>kind</th>" + "".join(f"<th>{esc(m)}</th>" for m in modalities) \
        + "<th>MLLM was shown</th><th>primary metric</th></tr>"
    body = []
    csv_rows = []
    for r in rows:
        marks = "".join('<td class="yes">✓</td>' if m in r["inputs"] else '<td class="no">·</td>' for m in modalities)
        body.append(f"<tr><td>{esc(r['task'])}</td><td>{esc(r['method'])}</td><td>{esc(r['kind'])}</td>{marks}"
                    f"<td>{esc(r['shown'])}</td><td class=\"num\">{esc(metric_title(r['primary_metric']))} "
                    f"{esc(r['value'])}</td></tr>")
        csv_rows.append({"task": r["task"], "method": r["method"], "kind": r["kind"],
                         **{m: m in r["inputs"] for m in modalities}, "mllm_shown": r["shown"],
                         "primary_metric": r["primary_metric"], "value": r["value"]})
    return f"<table><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>", pd.DataFrame(csv_rows)


def per_class_section(task: TaskMetrics) -> str:
    if task.per_class.empty:
        return '<p class="empty">No per-class figures (no method evaluated).</p>'
    known = {label for labels in (task.meta.get("groups") or {}).values() for label in labels}
    frame = task.per_class[task.per_class.label.isin(known)]
    if frame.empty:
        return '<p class="empty">No per-class figures.</p>'
    pivot = frame.pivot_table(index=["group", "label"], columns="method", values="f1", aggfunc="first", sort=False)
    support = frame.groupby(["group", "label"], sort=False).support.max()
    methods = [m for m in task.methods if m in pivot.columns]
    out = pivot.reset_index()[["group", "label"]].copy()
    out["truth_frames"] = [int(support.loc[(g, lab)]) for g, lab in zip(out.group, out.label, strict=True)]
    for method in methods:
        out[method] = pivot[method].to_numpy()
    return table(out, {m: 1 for m in methods}) + note("F1 (%) per class, pooled over every session of each method; "
                                                      "truth_frames: ground-truth frames of the class on the grid.")


def confusion_section(task: TaskMetrics) -> str:
    if task.confusion.empty:
        return '<p class="empty">No confusion matrix (no method evaluated).</p>'
    cards = []
    for method in task.methods:
        for group, cells in task.confusion[task.confusion.method == method].groupby("group", sort=False):
            matrix = cells.pivot_table(index="truth", columns="predicted", values="count", aggfunc="sum", sort=False)
            rows_order = list(dict.fromkeys(cells.truth))
            cols_order = list(dict.fromkeys(cells.predicted))
            matrix = matrix.reindex(index=rows_order, columns=cols_order).fillna(0).astype(int)
            head = "<tr><th>truth \\ predicted</th>" + "".join(f'<th class="col">{esc(c)}</th>' for c in cols_order) + "</tr>"
            body = []
            for label in rows_order:
                values = matrix.loc[label].to_numpy()
                total = values.sum()
                tds = "".join(
                    f'<td style="background:{heat(v / total if total else 0.0)};'
                    f'color:{"#fff" if total and v / total > 0.55 else "inherit"}" '
                    f'title="{esc(label)} → {esc(c)}: {v}">{v if v else ""}</td>'
                    for c, v in zip(cols_order, values, strict=True)
                )
                body.append(f'<tr><th class="row">{esc(label)}</th>{tds}</tr>')
            title = f"{method} — {group}" if TASKS[task.task].per_procedure else method
            cards.append(f'<div class="card"><h4>{esc(title)}</h4><table class="cm"><thead>{head}</thead>'
                         f"<tbody>{''.join(body)}</tbody></table></div>")
    return (f'<div class="grid">{"".join(cards)}</div>'
            + note("Frame counts on the evaluation grid; rows are the ground truth, shading is the share of the row. "
                   f"Columns beyond the label set are errors such as {UNPARSEABLE} and {NO_PREDICTION}."))


def timelines_section(
    tasks: Mapping[str, TaskMetrics], sessions: Sequence[str], folder: Path
) -> tuple[str, list[Path]]:
    """Ground truth above each method's predictions per session and task (inline SVG); each
    figure is also written to ``folder`` as ``{session}_{task}.svg``."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    blocks = []
    by_session = {name: dict(tuple(task.frames.groupby("session", sort=False))) if not task.frames.empty else {}
                  for name, task in tasks.items()}
    for session in sessions:
        figures = []
        for name, task in tasks.items():
            if session not in by_session[name]:
                continue
            settings = task.meta.get("settings") or {}
            colours = label_colours(task.meta.get("groups") or {}, settings.get("background_labels") or ["background"])
            frames = by_session[name][session]
            rows = []
            present = set(frames.method)
            order = [m for m in task.methods if m in present]
            first = frames[frames.method == order[0]]
            rows.append(("ground truth", first.t.to_numpy(), first.truth.tolist()))
            for method in order:
                part = frames[frames.method == method]
                fold = int(part.fold.iloc[0])
                suffix = f" (fold {fold})" if fold >= 0 else ""
                rows.append((f"{method}{suffix}", part.t.to_numpy(), part.label.tolist()))
            step = 1.0 / float(settings.get("rate_hz") or 5.0)
            end = float(((task.meta.get("sessions") or {}).get(session) or {}).get("end_s") or (first.t.max() + step))
            svg = timeline(f"{session} — {task_title(name)}", rows, step, end, colours)
            path = folder / f"{session}_{name}.svg"
            with atomic_path(path) as tmp:
                tmp.write_text(svg)
            written.append(path)
            figures.append(f'<div class="timeline">{inline_svg(svg)}</div>')
        if figures:
            blocks.append(f"<h3>{esc(session)}</h3>" + "".join(figures))
    if not blocks:
        return '<p class="empty">No timelines: no method has predictions on an annotated session.</p>', written
    return "".join(blocks) + note(
        "Each row is one method's label at every evaluation-grid instant (sample-and-hold of its predictions), "
        "under the ground truth; the axis is the session clock. Grey: background; black: unparseable; white: "
        "no prediction. Hover a bar for its label and span."), written


def inline_svg(svg: str) -> str:
    """An SVG document as inline HTML (the XML namespace attribute is implied in HTML)."""
    return svg.replace(' xmlns="http://www.w3.org/2000/svg"', "", 1)


def data_section(inputs: ReportInputs, tables: dict[str, pd.DataFrame], colours: Mapping[str, str]) -> str:
    """Hours, sessions, label distributions, sync confidence, speech quality (demo truth)."""
    probes = {s: report_data.read_json(inputs.probes[s]) for s in inputs.sessions}
    syncs = {s: report_data.read_json(inputs.syncs[s]) for s in inputs.sessions}
    speech = {s: report_data.read_json(inputs.speech[s]) for s in inputs.sessions}
    sessions = report_data.sessions_table(inputs.sessions, inputs.procedures, probes, syncs, speech)
    tables["data_sessions"] = sessions
    hours = sessions.duration_s.dropna().sum() / 3600.0
    procedures = sessions.procedure.replace("", "(none)").value_counts()
    parts = [
        key_values([
            ("sessions", len(inputs.sessions)),
            ("recorded hours (session clock)", f"{hours:.3f}"),
            ("procedures", ", ".join(f"{p} ({n})" for p, n in procedures.items())),
        ]),
        "<h3>Sessions</h3>",
        table(sessions, {"duration_s": 1, "min_sync_psr": 1, "speech_rtf": 3}),
    ]
    speech_warnings = report_data.speech_warnings(speech)
    if not speech_warnings.empty:  # who spoke: what a user must check before trusting the transcripts
        tables["speech_warnings"] = speech_warnings
        parts += ["<h3>Speech warnings</h3>", table(speech_warnings, {})]
    distribution = report_data.label_distribution(probes)
    tables["label_distribution"] = distribution
    parts.append("<h3>Label distributions (annotated seconds)</h3>")
    if distribution.empty:
        parts.append('<p class="empty">No annotations found in the probes.</p>')
    else:
        groups = {f"{t}:{g}": list(d.label) for (t, g), d in distribution.groupby(["tier", "group"], sort=False)}
        colours = {**label_colours(groups, ["background"]), **colours}
        bars = [
            stacked_bar(f"{tier} — {group}", list(zip(d.label, d.seconds, strict=True)), colours)
            for (tier, group), d in distribution.groupby(["tier", "group"], sort=False)
        ]
        parts.append('<div class="grid">' + "".join(f'<div class="card">{inline_svg(b)}</div>' for b in bars) + "</div>")
        parts.append(details("table", table(distribution, {"seconds": 1, "share": 1})))
    sync_truth = speech_errors = None
    summary: dict[str, Any] | None = None
    if inputs.demo_quality is not None:
        quality = report_data.read_json(inputs.demo_quality)
        sync_truth = pd.DataFrame(quality["sync"])
        speech_errors = pd.DataFrame(quality["speech"])
        summary = quality["speech_summary"]
    sync = report_data.sync_table(syncs, sync_truth)
    tables["sync"] = sync
    parts += ["<h3>Synchronisation</h3>", table(sync, {"offset_s": 4, "drift_ppm": 2, "confidence_psr": 1,
                                                        "true_offset_s": 4, "error_ms": 2}, empty="No sync.json found."),
              note("confidence_psr: peak-to-sidelobe ratio of the GCC-PHAT correlation peak (higher is surer)"
                   + ("; error_ms: estimated minus the demo generator's true offset." if sync_truth is not None else "."))]
    parts.append("<h3>Speech (ASR and diarization)</h3>")
    if speech_errors is not None and not speech_errors.empty:
        columns = ["session", "ref_words", "hyp_words", "wer", "der", "der_collar", "role_accuracy",
                   "transcript_role_accuracy", "n_speakers", "alignment", "diarization", "rtf"]
        view = speech_errors[[c for c in columns if c in speech_errors]].copy()
        for c in ("wer", "der", "der_collar", "role_accuracy", "transcript_role_accuracy"):
            if c in view:
                view[c] = 100.0 * view[c]
        tables["speech_quality"] = speech_errors
        parts.append(table(view, {"rtf": 3}))
        if summary:
            parts.append(note(
                f"Against the demo generator's scripted dialogue ({summary['sessions']} synthetic demo sessions, "
                "%): WER "
                f"{100 * summary['wer']:.1f}, DER {100 * summary['der']:.1f} (±0.25 s collar "
                f"{100 * summary['der_collar']:.1f}), role attribution {100 * summary['role_accuracy']:.1f} of "
                "speech time."))
    else:
        parts.append(note("No ground truth for speech (real recordings, or demo truth not available): the "
                          "sessions table above gives the methods used and the real-time factor."))
    overview = pd.read_csv(inputs.overview, sep="\t")
    tables["inputs_overview"] = overview
    parts.append(details("every device and stream (inputs_overview.tsv)", table(overview, {"duration_s": 1,
                                                                                              "gaze_rate_hz": 1})))
    return "".join(parts)


def mllm_section(usage: pd.DataFrame) -> str:
    if usage.empty:
        return '<p class="empty">No zero-shot MLLM method was registered.</p>'
    view = pd.DataFrame({
        "task": usage.task,
        "method": usage.method,
        "backend / model": usage.backend + " / " + usage.served_model,
        "prompt, decoding": usage.prompt_version + ", " + usage.decoding,
        "shown (left out)": [f"{a} ({b})" if b else a for a, b in zip(usage.inputs_shown, usage.inputs_left_out,
                                                                          strict=True)],
        "windows": usage.windows,
        "new calls": usage.new_calls,
        "cache hits": usage.cache_hits,
        "call tokens in / out": [f"{fmt(a)} / {fmt(b)}" for a, b in zip(usage.prompt_tokens, usage.completion_tokens,
                                                                          strict=True)],
        "call latency mean / p95 (s)": [f"{fmt(a, 2)} / {fmt(b, 2)}" for a, b in zip(
            usage.call_latency_s_mean, usage.call_latency_s_p95, strict=True)],
        "answer tokens in / out": [f"{fmt(a)} / {fmt(b)}" for a, b in zip(
            usage.answer_prompt_tokens, usage.answer_completion_tokens, strict=True)],
        "answer latency (s)": usage.answer_latency_s_mean.astype(float),
        "unparseable %": 100.0 * usage.unparseable_window_rate.astype(float),
        "outcomes": usage.outcomes,
    })
    return table(view, {"answer latency (s)": 2}) + note(
        "new calls: requests sent to the model in the run that made the predictions; cache hits: answers replayed "
        "from the response cache (no call); call tokens and latency: over the new calls (none in a fully cached "
        "rerun); answer tokens and latency: over every answer used, as measured when its call was made; "
        "unparseable: share of windows whose answer could not be parsed (those instants count as errors); "
        "outcomes: how each answer was parsed. Every column is in mllm_usage.csv.")


def training_section(inputs: ReportInputs, tables: dict[str, pd.DataFrame]) -> str:
    """Each task's folds (its folds.json) and the training curves of every cross-validated
    baseline and fold (drawn from the epoch history in its training.json)."""
    if not inputs.folds:
        return ""
    parts = []
    rows = []
    for task, path in inputs.folds.items():
        folds = report_data.read_json(path)
        task_rows = [{"task": task, "fold": int(k), "test_sessions": ", ".join(v.get("test", [])),
                      "train_sessions": len(v.get("train", []))}
                     for k, v in sorted((folds.get("folds") or {}).items(), key=lambda kv: int(kv[0]))]
        rows += task_rows
        parts.append(f"<p>{esc(task)}: {esc(folds.get('k', len(task_rows)))} folds of the "
                     f"{len(folds.get('session_fold') or {})} sessions with {esc(task)} labels (seed "
                     f"{esc(folds.get('seed', '—'))}); every baseline is trained on the other folds and predicts "
                     "the test sessions of its fold.</p>")
    tables["folds"] = pd.DataFrame(rows)
    parts.append(table(pd.DataFrame(rows)))
    images = []
    for (task, method, fold), path in sorted(inputs.training.items()):
        record = report_data.read_json(path)
        if not record.get("history"):
            continue  # not an epoch-trained model (gradient boosting)
        png = training_curves_png(record["history"], f"{record.get('model', method)} ({task}, fold {fold})")
        images.append(f'<div class="card"><h4>{esc(task)} / {esc(method)} / fold{fold}</h4>'
                      f'<img class="figure" alt="training curves" src="{data_uri_png(png)}" width="420"></div>')
    if images:
        parts.append(details(f"training curves ({len(images)})", f'<div class="grid">{"".join(images)}</div>'))
    return "".join(parts)


def provenance_section(facts: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
    packages = pd.DataFrame(sorted(facts["packages"].items()), columns=["package", "version"])
    items = [(k, facts[k]) for k in ("run_date_utc", "git_commit", "config_sha256", "python", "platform")]
    items += [(f"evaluation.{k}", json.dumps(v) if isinstance(v, dict | list) else v) for k, v in settings.items()]
    return key_values(items) + details("package versions", table(packages))


# --- summary.md ---------------------------------------------------------------------------------------


def markdown_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_nothing to show_\n"
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    lines = ["| " + " | ".join(fmt(v).replace("|", "\\|") for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *lines]) + "\n"


def explorer_section(
    inputs: ReportInputs, tasks: Mapping[str, TaskMetrics], outputs: ReportOutputs
) -> tuple[str, float]:
    """Write one explorer page per session (sessions/{session}.html) and return the report's list
    of them with the seconds the pages took to build."""
    if not inputs.explorer or outputs.sessions is None:
        return '<p class="empty">No explorer pages (report.explorer is false).</p>', 0.0
    start = time.perf_counter()
    # each task's evaluation grid and per-session metrics, split by session once
    frames = {name: dict(tuple(t.frames.groupby("session"))) for name, t in tasks.items() if not t.frames.empty}
    per_session = {name: dict(tuple(t.per_session.groupby("session")))
                   for name, t in tasks.items() if not t.per_session.empty}
    outputs.sessions.mkdir(parents=True, exist_ok=True)
    items, pages = [], []
    for s in inputs.sessions:
        layers = inputs.explorer.get(s)
        if layers is None:
            continue
        href = f"sessions/{s}.html"
        built = build_session_page(
            layers, outputs.sessions / f"{s}.html",
            {task: grids[s] for task, grids in frames.items() if s in grids},
            {task: rows[s] for task, rows in per_session.items() if s in rows},
        )
        pages.append((s, f"{s}.html"))
        what = [layers.procedure or "", f"{layers.duration_s:.0f} s", f"{built['devices']} device(s)",
                f"{built['tracks']} timelines"]
        items.append(f"<li>{link(href, s)} — {esc(' · '.join(w for w in what if w))}</li>")
    write_index(pages, outputs.sessions / "index.html")
    seconds = time.perf_counter() - start
    body = [f"<ul>{''.join(items)}</ul>", note(
        "One page per session: every device's video on the session clock with the gaze point, fixations and the "
        "partner's face box over the head cameras, the transcript (click to go there) and every timeline under one "
        "cursor — ground truth, each method's predictions, MLLM windows with their inputs and raw answers, speech "
        "turns, gaze targets and sync checks. The pages open from disk without a server; their videos are the "
        "analysis streams under results/sessions, so keep results/report beside results/sessions.")]
    return "".join(body), seconds


def synthetic_note(inputs: ReportInputs) -> str:
    """Says so when figures are measured (partly) on the synthetic demo sessions."""
    synthetic = [s for s in inputs.sessions if s in set(inputs.demo_sessions)]
    if not synthetic:
        return ""
    share = "every figure here is measured" if len(synthetic) == len(inputs.sessions) else "figures are measured partly"
    return (f"Synthetic data: {len(synthetic)} of {len(inputs.sessions)} sessions are the generated demo sessions, so "
            f"{share} on synthetic recordings, not on real ones.")


def summary_markdown(
    title: str, facts: Mapping[str, Any], tasks: Mapping[str, TaskMetrics], settings: Mapping[str, Any],
    usage: pd.DataFrame, data_sessions: pd.DataFrame, notes: Sequence[str], scored: pd.DataFrame,
) -> str:
    lines = [f"# {title}", "", f"Run {facts['run_date_utc']}, commit `{short_commit(facts['git_commit'])}`, config "
             f"`{facts['config_sha256'][:12]}`.", ""]
    lines.append(settings_sentence(settings) + " Cross-validated methods: mean ± std over folds; † zero-shot or "
                 "reference, no folds: pooled over sessions. " + scored_sentence(scored))
    for name, task in tasks.items():
        lines += ["", f"## {task_title(name)} ({name})", ""]
        if task.main.empty:
            lines.append("_No method was evaluated for this task._")
            continue
        main = task.main.set_index("method")
        rows = []
        for method in task.methods:
            row = main.loc[method].to_dict()
            rows.append({"method": method, "kind": row["kind"], "folds": int(row["folds"]),
                         "sessions": int(row["sessions"]),
                         **{metric_title(m): headline_cell(row, m)[0] for m in task.metrics}})
        lines.append(markdown_table(pd.DataFrame(rows)))
        if not task.paired.empty:
            primary = ((task.meta.get("settings") or {}).get("primary_metric") or {}).get(name)
            tests = task.paired[task.paired.metric == primary]
            if not tests.empty:
                lines += [f"Paired bootstrap tests ({metric_title(primary)}):", ""]
                view = tests[["method_a", "method_b", "difference", "p_value", "n_sessions"]].copy()
                view["p_value"] = [p_text(p) for p in view.p_value]
                lines.append(markdown_table(view))
    lines += ["", "## Data", ""]
    hours = data_sessions.duration_s.dropna().sum() / 3600.0 if not data_sessions.empty else 0.0
    lines.append(f"{len(data_sessions)} sessions, {hours:.3f} h on the session clock.")
    if not usage.empty:
        lines += ["", "## MLLM usage", ""]
        lines.append(markdown_table(usage[["task", "method", "inputs_shown", "windows", "new_calls", "cache_hits",
                                           "answer_prompt_tokens", "answer_completion_tokens", "answer_latency_s_mean",
                                           "unparseable_window_rate"]]))
    if notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"


def settings_sentence(settings: Mapping[str, Any]) -> str:
    if not settings:
        return "Evaluation settings: defaults."
    bootstrap = settings.get("bootstrap") or {}
    return (
        f"Every method is scored on one {fmt(settings.get('rate_hz'), 1)} Hz grid per session (sample-and-hold of its "
        f"predictions). Steps: frame accuracy includes background ({', '.join(settings.get('background_labels') or [])}); "
        f"Edit and F1@k drop it; last segment ends as in {'MS-TCN' if settings.get('end_convention') == 'mstcn' else 'ASFormer'} "
        f"(end_convention: {settings.get('end_convention')}). States: frame-level, and window-level over "
        f"{fmt(settings.get('window_s'))} s windows every {fmt(settings.get('hop_s'))} s. CIs: "
        f"{100 * float(bootstrap.get('confidence', 0.95)):.0f} % percentile bootstrap over sessions "
        f"({bootstrap.get('resamples')} resamples, seed {bootstrap.get('seed')})."
    )


# --- the whole report -----------------------------------------------------------------------------


def build_report(inputs: ReportInputs, registry: Mapping[str, Mapping[str, Any]], outputs: ReportOutputs) -> dict[str, Any]:
    """Write index.html, summary.md, tables/*.csv and timelines/*.svg; return a short summary."""
    inputs.check()
    tasks = {t: load_task(t, inputs.metrics[t]) for t in inputs.tasks}
    settings = next((t.meta.get("settings") for t in tasks.values() if t.meta.get("settings")), {}) or {}
    facts = provenance(inputs.repo, inputs.config_hash)
    tables: dict[str, pd.DataFrame] = {}
    usage = usage_table([report_data.read_json(p) for p in inputs.mllm])
    tables["mllm_usage"] = usage
    main_html, main_csv = main_table(tasks, registry)
    tables["main_table"] = main_csv
    scored = scored_sessions(tasks)
    tables["scored_sessions"] = scored
    modality_html, modality_csv = modality_table(tasks, registry, usage)
    tables["modalities"] = modality_csv
    synthetic = synthetic_note(inputs)
    notes = [*([synthetic] if synthetic else []), *(n for t in tasks.values() for n in (t.meta.get("notes") or []))]
    for name, task in tasks.items():
        if not registry.get(name):
            notes.append(f"{name}: no method is registered for this task")
        for table_name in ("per_fold", "per_session", "per_class", "confusion", "paired"):
            frame = getattr(task, table_name)
            key = "paired_tests" if table_name == "paired" else table_name
            if key not in tables or tables[key].empty:
                tables[key] = frame
            elif not frame.empty:
                tables[key] = pd.concat([tables[key], frame], ignore_index=True)
        if not task.main.empty:
            tables[f"metrics_{name}"] = task.main
    with_frames = {s for t in tasks.values() if not t.frames.empty for s in t.frames.session.unique()}
    evaluated = [s for s in inputs.sessions if s in with_frames]
    timeline_sessions = [s for s in (inputs.timeline_sessions or evaluated) if s in evaluated]
    timelines_html, _ = timelines_section(tasks, timeline_sessions, outputs.timelines)

    sections = [
        section("main", "Main results", [
            main_html,
            note("Cross-validated methods: mean ± std over folds (each fold's metric over its held-out sessions). "
                 "†: zero-shot or reference methods have no folds — pooled over all their sessions "
                 "(“zero-shot, no folds”). Bold: best non-reference method per column. All values in %."),
            note(scored_sentence(scored) + " Each task is trained, inferred and scored on the sessions with its "
                 "labels."),
            note(settings_sentence(settings)),
            link("tables/main_table.csv", "main_table.csv"),
        ]),
    ]
    for name, task in tasks.items():
        sessions = scored[scored.task == name].iloc[0]
        sections.append(section(f"task-{name}", f"{task_title(name)} — all metrics", [
            f"<p>Scored on {sessions.n_sessions} session(s) with {esc(name)} labels: {esc(sessions.sessions or '—')}.</p>",
            detailed_table(task), "<h3>Paired tests</h3>", paired_table(task),
            details("per fold", table(task.per_fold, {"fold": 0}, empty="no cross-validated method")),
            details("per session", table(task.per_session, {"fold": 0}, empty="nothing evaluated")),
        ]))
    sections.append(section("modalities", "Modality ablation: what each method saw", [
        modality_html, note("Inputs as registered by each method (MLLMs: the modalities the model takes; "
                            "'MLLM was shown' is what the run really gave it)."),
        link("tables/modalities.csv", "modalities.csv")]))
    sections.append(section("classes", "Per-class F1 and confusion matrices", [
        part for name, task in tasks.items()
        for part in (f"<h3>{esc(task_title(name))}: per-class F1</h3>", per_class_section(task),
                     f"<h3>{esc(task_title(name))}: confusion matrices</h3>", confusion_section(task))
    ] + [link("tables/per_class.csv", "per_class.csv"), " · ", link("tables/confusion.csv", "confusion.csv")]))
    sections.append(section("timelines", "Timelines per session", timelines_html))
    explorer_html, explorer_seconds = explorer_section(inputs, tasks, outputs)
    sections.append(section("sessions", "Session explorer", explorer_html))
    colours: dict[str, str] = {}
    for task in tasks.values():
        background = (task.meta.get("settings") or {}).get("background_labels") or ["background"]
        colours.update(label_colours(task.meta.get("groups") or {}, background))
    sections.append(section("data", "Data", data_section(inputs, tables, colours)))
    sections.append(section("mllm", "MLLM usage", [mllm_section(usage), link("tables/mllm_usage.csv", "mllm_usage.csv")]))
    training = training_section(inputs, tables)
    if training:
        sections.append(section("training", "Baseline training", training))
    sections.append(section("provenance", "Provenance", provenance_section(facts, settings)))
    sections.append(section("notes", "Notes", "".join(note(n) for n in notes) or '<p class="empty">none</p>'))
    tables["provenance"] = pd.DataFrame(
        [(k, v) for k, v in facts.items() if k != "packages"] + [(f"package:{k}", v) for k, v in facts["packages"].items()],
        columns=["key", "value"])

    outputs.tables.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        with atomic_path(outputs.tables / f"{name}.csv") as tmp:
            frame.to_csv(tmp, index=False)
    csv_links = " · ".join(link(f"tables/{name}.csv", f"{name}.csv") for name in sorted(tables))
    sections.append(section("tables", "Tables (CSV)", f"<p>{csv_links}</p>"))
    nav = [("main", "Main results"), *[(f"task-{t}", task_title(t)) for t in tasks],
           ("modalities", "Modalities"), ("classes", "Per class"), ("timelines", "Timelines"), ("sessions", "Sessions"),
           ("data", "Data"),
           ("mllm", "MLLM usage"), *([("training", "Training")] if training else []), ("provenance", "Provenance"),
           ("notes", "Notes"), ("tables", "CSV")]
    subtitle = [f"Run {facts['run_date_utc']} · commit {short_commit(facts['git_commit'])} · config "
                f"{facts['config_sha256'][:12]}",
                f"{len(inputs.sessions)} sessions · " + scored_sentence(scored) + " · methods: "
                + "; ".join(f"{t}: {', '.join(task.methods) or 'none'}" for t, task in tasks.items())]
    if synthetic:
        subtitle.append(synthetic)
    write_text(outputs.html, page(inputs.title, subtitle, nav, sections))
    write_text(outputs.summary, summary_markdown(inputs.title, facts, tasks, settings, usage,
                                                 tables["data_sessions"], notes, scored))
    return {"methods": {t: task.methods for t, task in tasks.items()}, "tables": sorted(tables), "notes": notes,
            "scored_sessions": {row.task: int(row.n_sessions) for row in scored.itertuples()},
            "sessions": len(inputs.sessions), "timelines": len(timeline_sessions),
            "explorer_pages": len(inputs.explorer), "explorer_s": explorer_seconds}

"""Evaluation of every prediction method on one time grid per session (the `evaluate` rule).

Contract
--------
Inputs: the prediction files of each registered method (``PREDICTIONS_SCHEMA``:
``results/predictions/{task}/{method}/{session}.parquet`` with ``t``, ``label``, ``fold``) and the
validated annotations of each session (the validate stage's ``annotations.parquet``).

**One grid.** Methods predict at different rates (the MLLMs at 2 Hz, the baselines at 5 Hz), so
every method is scored on the same frames: per session the grid ``t = k / rate_hz`` for
``k = 0, 1, …`` while ``t`` is before the end of the last annotated segment of the task's tier.
The ground truth at a grid time is the label of the annotation segment with
``t_start <= t < t_end`` (:func:`egoinstruct.annotations.labels_at_times`); grid times in an
annotation gap (``annotation_checks.gaps.<task>.policy: ignore``) are not scored. The prediction at a grid time
is the label of the prediction row nearest at or before it (sample-and-hold); a grid time
before a method's first row gets the label ``no_prediction``, which — like an MLLM's
``unparseable`` — is an error for every metric and never a class of its own.

**Folds.** A session's fold is the (single) value of its predictions' ``fold`` column. A method
whose rows say ``-1`` is zero-shot: its metrics are pooled over all its sessions and have no
standard deviation over folds. A cross-validated method is scored per fold (the sessions of
that fold's test set) and summarised as mean ± sample std over folds; its pooled figures over
all held-out sessions are reported too.

**Metrics** (:mod:`egoinstruct.metrics`): steps: frame accuracy (background frames count), Edit
and F1@τ (background labels dropped), macro-F1; states: accuracy and macro-F1 frame-level and
window-level (majority label of windows of ``window_s`` every ``hop_s``). Uncertainty: 95 %
percentile bootstrap over sessions of every pooled metric, and paired bootstrap tests between
method pairs on their common sessions.

**Majority reference.** When no method of kind ``reference`` is registered for a task and
``majority_reference`` is on, a ``majority-class`` row is added: every frame gets the most
frequent ground-truth label of the evaluated frames (per procedure for steps). It is a prior
read off the evaluated frames, not a trained model.

Outputs (:func:`write_outputs`, one folder per task): ``main.csv`` (one row per method),
``per_fold.csv``, ``per_session.csv``, ``per_class.csv``, ``confusion.csv`` (long: group, truth,
predicted, count), ``paired_tests.csv``, ``frames.parquet`` (the grid: session, t, truth,
method, fold, label) and ``metrics.json`` (settings, methods, label groups, notes).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from egoinstruct.annotations import labels_at_times
from egoinstruct.errors import InputError
from egoinstruct.io import atomic_path, json_safe, write_json
from egoinstruct.labels import load_labels
from egoinstruct.metrics import (
    SessionSegmentationCounts,
    bootstrap_cis,
    classification_from_confusion,
    confusion_matrix,
    mean_std,
    overlap_key,
    paired_bootstrap_tests,
    pool_segmentation,
    session_segmentation_counts,
    window_labels,
)
from egoinstruct.predictions import UNPARSEABLE, ZERO_SHOT_FOLD
from egoinstruct.settings.evaluation import EvaluationSettings
from egoinstruct.tasks import Task, get_task

KINDS = ("reference", "baseline", "zero-shot")
NO_PREDICTION = "no_prediction"
MAJORITY_METHOD = "majority-class"
# Grid times and prediction times are compared with this tolerance (s): t = k / 5 and t = k / 2
# meet exactly on paper but not always in floating point.
_TIME_EPS = 1e-9


def task_metrics(task: Task, overlaps: Sequence[float]) -> tuple[str, ...]:
    """Names of the headline metrics of ``task``, in table order: frame accuracy, segmental Edit
    and F1@k, macro-F1 for segmental tasks; frame and window accuracy and macro-F1 otherwise."""
    if task.segmental:
        return ("accuracy", "edit", *(overlap_key(o) for o in overlaps), "macro_f1")
    return ("accuracy", "macro_f1", "window_accuracy", "window_macro_f1")


def _metrics(task: str, settings: EvaluationSettings) -> tuple[str, ...]:
    return task_metrics(get_task(task), settings.overlaps)


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: its kind, the inputs it saw and its prediction file per session."""

    name: str
    kind: str
    inputs: tuple[str, ...]
    predictions: Mapping[str, str | Path]


@dataclass(frozen=True)
class SessionTruth:
    """Ground truth of one session on the evaluation grid (only the labelled grid times)."""

    session: str
    procedure: str | None
    times: np.ndarray
    labels: list[str]
    grid_frames: int


@dataclass
class SessionResult:
    """One method on one session: aligned labels and the counts the pooled metrics need."""

    session: str
    fold: int
    procedure: str | None
    predicted: list[str]
    confusion: np.ndarray
    segmentation: SessionSegmentationCounts | None = None
    window_confusion: np.ndarray | None = None
    no_prediction_frames: int = 0
    unparseable_frames: int = 0

    @property
    def frames(self) -> int:
        return len(self.predicted)


@dataclass
class MethodResult:
    """Everything the report shows about one method on one task."""

    spec: MethodSpec
    sessions: list[SessionResult]
    folds: list[int]
    per_fold: dict[int, dict[str, float]]
    pooled: dict[str, float]
    headline: dict[str, tuple[float, float]]
    ci: dict[str, tuple[float, float]]
    per_class: dict[str, dict[str, float]]
    unscored_sessions: list[str]
    note: str

    @property
    def zero_shot(self) -> bool:
        return not self.folds


@dataclass
class TaskEvaluation:
    """The evaluation of one task: every method, the label groups and the paired tests."""

    task: str
    settings: EvaluationSettings
    labels: list[str]
    groups: dict[str, list[str]]
    truth: dict[str, SessionTruth]
    methods: dict[str, MethodResult]
    pairs: list[dict[str, Any]]
    notes: list[str]


# --- ground truth and predictions on the grid -----------------------------------------------


def grid_times(end_s: float, rate_hz: float) -> np.ndarray:
    """``k / rate_hz`` for every k with ``k / rate_hz < end_s`` (empty when ``end_s <= 0``)."""
    if not end_s > 0:
        return np.zeros(0)
    n = int(math.ceil(end_s * rate_hz - _TIME_EPS))
    times = np.arange(n, dtype=float) / rate_hz
    return times[times < end_s]


def session_truth(
    segments: pd.DataFrame, session: str, procedure: str | None, task: str, rate_hz: float
) -> SessionTruth:
    """The task's ground truth of one session on the grid (``segments``: the segment table)."""
    rows = segments[segments.tier == task]
    end = float(rows.t_end.max()) if not rows.empty else 0.0
    times = grid_times(end, rate_hz)
    labels = labels_at_times(rows, times)
    keep = [i for i, label in enumerate(labels) if label is not None]
    return SessionTruth(
        session=session,
        procedure=procedure,
        times=times[keep],
        labels=[labels[i] for i in keep],  # type: ignore[misc]
        grid_frames=len(times),
    )


def load_truth(
    task: str, annotations: Mapping[str, tuple[str | None, pd.DataFrame]], rate_hz: float
) -> dict[str, SessionTruth]:
    """Ground truth per session from ``annotations``: session → (procedure, its validated segment
    table — every annotation file of the session, :func:`egoinstruct.annotations.read_validated`).
    A per-procedure task leaves out the sessions without a procedure."""
    return {
        session: session_truth(segments, session, procedure, task, rate_hz)
        for session, (procedure, segments) in annotations.items()
        if get_task(task).takes_part(procedure)
    }


def read_predictions(path: str | Path) -> pd.DataFrame:
    """A prediction file as a frame (``t``, ``label``, ``fold``) sorted by time, checked against
    the predictions contract with an error that names the file and the fix."""
    path = Path(path)
    fix = (
        "prediction files need the columns t (float64, s on the session clock), label (string) and "
        "fold (int64, -1 for zero-shot) — see PREDICTIONS_SCHEMA in egoinstruct/tables.py and "
        "docs/data_contracts.md; fix the method's writer and rerun its rule"
    )
    try:
        schema = pq.read_schema(path)
    except FileNotFoundError as exc:
        raise InputError(f"{path}: prediction file not found; run the method's rule that writes it") from exc
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"{path}: cannot read Parquet table ({exc}); {fix}") from exc
    missing = [c for c in ("t", "label", "fold") if c not in schema.names]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; {fix}")
    checks = {
        "t": pa.types.is_floating(schema.field("t").type) or pa.types.is_integer(schema.field("t").type),
        "label": pa.types.is_string(schema.field("label").type)
        or pa.types.is_large_string(schema.field("label").type)
        or pa.types.is_dictionary(schema.field("label").type),
        "fold": pa.types.is_integer(schema.field("fold").type),
    }
    wrong = [f"{c} is {schema.field(c).type}" for c, ok in checks.items() if not ok]
    if wrong:
        raise InputError(f"{path}: wrong column type(s): {', '.join(wrong)}; {fix}")
    table = pq.read_table(path, columns=["t", "label", "fold"]).to_pandas()
    if table.label.isna().any() or table.fold.isna().any():
        raise InputError(f"{path}: null label or fold in {int(table.label.isna().sum())} row(s); {fix}")
    if not np.isfinite(table.t.to_numpy(float)).all():
        raise InputError(f"{path}: t has NaN or infinite values; {fix}")
    table["label"] = table.label.astype(str)
    table["fold"] = table.fold.astype(np.int64)
    return table.sort_values("t", kind="stable").reset_index(drop=True)


def sample_and_hold(times: np.ndarray, labels: Sequence[str], grid: np.ndarray) -> list[str]:
    """The label of the row nearest at or before each grid time (``no_prediction`` before the
    first row). ``times`` must be sorted; of rows with equal times the last wins."""
    index = np.searchsorted(np.asarray(times, dtype=float), np.asarray(grid, dtype=float) + _TIME_EPS, side="right") - 1
    labels = list(labels)
    return [labels[i] if i >= 0 else NO_PREDICTION for i in index]


def session_fold(table: pd.DataFrame, path: str | Path) -> int:
    """The one fold of a session's predictions (error when the rows disagree)."""
    folds = sorted(set(table.fold.tolist()))
    if len(folds) > 1:
        raise InputError(
            f"{path}: rows carry several folds {folds}; a session is held out in exactly one fold, "
            "so every row of its prediction file must have the same fold"
        )
    if folds and folds[0] < ZERO_SHOT_FOLD:
        raise InputError(f"{path}: fold {folds[0]} is not a fold; use 0, 1, … or -1 for zero-shot")
    return folds[0] if folds else ZERO_SHOT_FOLD


# --- labels --------------------------------------------------------------------------------------


def label_groups(task: str, truth: Mapping[str, SessionTruth], labels_dir: str | Path) -> dict[str, list[str]]:
    """The label set of each group: per procedure for steps, one group ``all`` for states."""
    if not get_task(task).per_procedure:
        return {"all": list(load_labels(labels_dir, task).labels)}
    procedures = sorted({t.procedure for t in truth.values() if t.procedure})
    return {p: list(load_labels(labels_dir, task, p).labels) for p in procedures}


def label_order(groups: Mapping[str, Sequence[str]], background: Sequence[str], extra: set[str]) -> list[str]:
    """Task-wide label order: background labels, each group's labels, then anything else seen
    (predicted labels outside the sets, ``unparseable``, ``no_prediction``) sorted."""
    known = [label for labels in groups.values() for label in labels]
    order = [b for b in background if b in known]
    for label in known:
        if label not in order:
            order.append(label)
    return order + sorted(extra - set(order))


# --- scoring --------------------------------------------------------------------------------------


def score_session(
    task: str,
    truth: SessionTruth,
    predicted: list[str],
    fold: int,
    labels: Sequence[str],
    settings: EvaluationSettings,
) -> SessionResult:
    """Counts of one method on one session (aligned ``predicted`` vs ``truth.labels``)."""
    _, confusion = confusion_matrix(predicted, truth.labels, labels)
    result = SessionResult(
        session=truth.session,
        fold=fold,
        procedure=truth.procedure,
        predicted=predicted,
        confusion=confusion,
        no_prediction_frames=predicted.count(NO_PREDICTION),
        unparseable_frames=predicted.count(UNPARSEABLE),
    )
    if get_task(task).segmental:
        result.segmentation = session_segmentation_counts(
            predicted, truth.labels, settings.background_labels, settings.end_convention, settings.overlaps
        )
    elif predicted:
        window, hop = settings.window_frames()
        _, result.window_confusion = confusion_matrix(
            window_labels(predicted, window, hop), window_labels(truth.labels, window, hop), labels
        )
    else:
        result.window_confusion = np.zeros_like(confusion)
    return result


def pooled_metrics(
    task: str, sessions: Sequence[SessionResult], labels: Sequence[str], settings: EvaluationSettings
) -> dict[str, float]:
    """Every headline metric of ``task`` over a set of sessions (NaN for an empty set)."""
    if not sessions:
        return {name: float("nan") for name in _metrics(task, settings)}
    frame = classification_from_confusion(labels, sum(s.confusion for s in sessions))
    out = {"accuracy": frame["accuracy"], "macro_f1": frame["macro_f1"]}
    if get_task(task).segmental:
        segmentation = pool_segmentation([s.segmentation for s in sessions], settings.overlaps)  # type: ignore[misc]
        out.update({k: v for k, v in segmentation.items() if k != "accuracy"})
    else:
        windows = classification_from_confusion(labels, sum(s.window_confusion for s in sessions))  # type: ignore[misc]
        out.update(window_accuracy=windows["accuracy"], window_macro_f1=windows["macro_f1"])
    return {name: float(out[name]) for name in _metrics(task, settings)}


def evaluate_method(
    task: str,
    spec: MethodSpec,
    truth: Mapping[str, SessionTruth],
    aligned: Mapping[str, tuple[list[str], int]],
    labels: Sequence[str],
    settings: EvaluationSettings,
) -> MethodResult:
    """Score one method: per session, per fold, pooled, headline (mean ± std or pooled), CIs."""
    sessions = [
        score_session(task, truth[s], predicted, fold, labels, settings)
        for s, (predicted, fold) in aligned.items()
        if truth[s].labels
    ]
    unscored = sorted(set(spec.predictions) - {s.session for s in sessions})
    folds = sorted({s.fold for s in sessions})
    if ZERO_SHOT_FOLD in folds and len(folds) > 1:
        mixed = {s.session: s.fold for s in sessions}
        raise InputError(
            f"method {spec.name} ({task}): some sessions are zero-shot (fold -1) and others "
            f"cross-validated ({mixed}); a method is either zero-shot or cross-validated"
        )
    folds = [f for f in folds if f != ZERO_SHOT_FOLD]
    metric = lambda subset: pooled_metrics(task, subset, labels, settings)  # noqa: E731
    pooled = metric(sessions)
    per_fold = {f: metric([s for s in sessions if s.fold == f]) for f in folds}
    if folds:
        headline = {name: mean_std([per_fold[f][name] for f in folds]) for name in _metrics(task, settings)}
        note = f"mean ± std over {len(folds)} fold{'s' if len(folds) != 1 else ''}"
    else:
        headline = {name: (pooled[name], float("nan")) for name in _metrics(task, settings)}
        note = "zero-shot, no folds" if spec.kind != "reference" else "reference, no folds"
    ci = bootstrap_cis(sessions, metric, settings.bootstrap.resamples, settings.bootstrap.confidence, settings.bootstrap.seed)
    per_class = (
        classification_from_confusion(labels, sum(s.confusion for s in sessions))["per_class"] if sessions else {}
    )
    return MethodResult(spec, sessions, folds, per_fold, pooled, headline, ci, per_class, unscored, note)


def majority_method(task: str, truth: Mapping[str, SessionTruth], sessions: Sequence[str]) -> tuple[MethodSpec, dict]:
    """The ``majority-class`` reference: per group (procedure for steps) the most frequent
    ground-truth label of the evaluated frames of ``sessions`` (ties: the first seen)."""
    by_group: dict[str | None, list[str]] = {}
    for s in sessions:
        group = truth[s].procedure if get_task(task).per_procedure else None
        by_group.setdefault(group, []).extend(truth[s].labels)
    majority = {g: Counter(v).most_common(1)[0][0] for g, v in by_group.items() if v}
    aligned = {}
    for s in sessions:
        group = truth[s].procedure if get_task(task).per_procedure else None
        aligned[s] = ([majority[group]] * len(truth[s].labels) if group in majority else [], ZERO_SHOT_FOLD)
    spec = MethodSpec(MAJORITY_METHOD, "reference", (), {s: "" for s in sessions})
    return spec, aligned


def headline_value(result: MethodResult, metric: str) -> float:
    return result.headline[metric][0]


def choose_pairs(
    task: str, methods: Mapping[str, MethodResult], settings: EvaluationSettings
) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(method_a, method_b, why) pairs to test, and notes about configured pairs left out."""
    notes: list[str] = []
    if settings.pairs != "auto":
        pairs = []
        for a, b in settings.pairs:
            missing = [m for m in (a, b) if m not in methods]
            if missing:
                notes.append(f"pair {a} vs {b} not tested: {', '.join(missing)} not evaluated for {task}")
            else:
                pairs.append((a, b, "configured"))
        return pairs, notes
    references = [name for name, m in methods.items() if m.spec.kind == "reference"]
    reference = "majority" if "majority" in references else (references[0] if references else None)
    pairs = []
    if reference:
        pairs += [(name, reference, "vs reference") for name in methods if name != reference and name not in references]
    primary = settings.primary_metric[task]

    def best(kind: str) -> str | None:
        candidates = [(headline_value(m, primary), name) for name, m in methods.items() if m.spec.kind == kind]
        candidates = [c for c in candidates if not math.isnan(c[0])]
        return max(candidates)[1] if candidates else None

    baseline, zero_shot = best("baseline"), best("zero-shot")
    if baseline and zero_shot:
        pairs.append((baseline, zero_shot, f"best baseline vs best zero-shot ({primary})"))
    return pairs, notes


def paired_tests(
    task: str, methods: Mapping[str, MethodResult], labels: Sequence[str], settings: EvaluationSettings
) -> tuple[list[dict[str, Any]], list[str]]:
    """Paired bootstrap tests (every headline metric) of the chosen pairs on common sessions."""
    pairs, notes = choose_pairs(task, methods, settings)
    rows: list[dict[str, Any]] = []
    metric = lambda subset: pooled_metrics(task, subset, labels, settings)  # noqa: E731
    for a, b, why in pairs:
        by_a = {s.session: s for s in methods[a].sessions}
        by_b = {s.session: s for s in methods[b].sessions}
        common = sorted(set(by_a) & set(by_b))
        if len(common) < 2:
            notes.append(f"pair {a} vs {b} not tested: {len(common)} common scored session(s), need 2")
            continue
        sa, sb = [by_a[s] for s in common], [by_b[s] for s in common]
        values_a, values_b = metric(sa), metric(sb)
        tests = paired_bootstrap_tests(sa, sb, metric, settings.bootstrap.resamples, settings.bootstrap.seed)
        for name in _metrics(task, settings):
            rows.append({
                "task": task, "method_a": a, "method_b": b, "why": why, "metric": name,
                "value_a": values_a[name], "value_b": values_b[name],
                "difference": tests[name]["difference"], "p_value": tests[name]["p_value"],
                "n_sessions": len(common),
            })
    return rows, notes


def evaluate_task(
    task: str,
    methods: Sequence[MethodSpec],
    truth: Mapping[str, SessionTruth],
    labels_dir: str | Path,
    settings: EvaluationSettings,
) -> TaskEvaluation:
    """Evaluate every method of ``task`` against ``truth`` on the common grid."""
    get_task(task)
    notes: list[str] = []
    aligned: dict[str, dict[str, tuple[list[str], int]]] = {}
    specs = {m.name: m for m in methods}
    for spec in methods:
        if spec.kind not in KINDS:
            raise InputError(f"method {spec.name}: kind {spec.kind!r} is not one of {', '.join(KINDS)}")
        aligned[spec.name] = {}
        for session, path in spec.predictions.items():
            if session not in truth:
                continue  # not annotated: nothing to score against
            table = read_predictions(path)
            predicted = sample_and_hold(table.t.to_numpy(float), table.label.tolist(), truth[session].times)
            aligned[spec.name][session] = (predicted, session_fold(table, path))
            if table.empty:
                notes.append(f"{spec.name}: {path} has no rows; every frame of {session} counts as {NO_PREDICTION}")
    evaluated = sorted({s for per in aligned.values() for s in per if truth[s].labels})
    has_reference = any(m.kind == "reference" for m in methods)
    if settings.majority_reference and methods and not has_reference and evaluated:
        spec, aligned[MAJORITY_METHOD] = majority_method(task, truth, evaluated)
        specs[MAJORITY_METHOD] = spec
        notes.append(
            f"{MAJORITY_METHOD}: no reference method registered; every frame gets the most frequent "
            "ground-truth label of the evaluated frames" + (" of its procedure" if get_task(task).per_procedure else "")
        )
    scored_truth = {s: truth[s] for s in evaluated}
    groups = label_groups(task, scored_truth, labels_dir)
    seen = {label for per in aligned.values() for predicted, _ in per.values() for label in predicted}
    seen |= {label for t in scored_truth.values() for label in t.labels}
    labels = label_order(groups, settings.background_labels, seen)
    results = {
        name: evaluate_method(task, specs[name], truth, per, labels, settings) for name, per in aligned.items()
    }
    for name, result in results.items():
        if result.unscored_sessions:
            notes.append(f"{name}: session(s) {', '.join(result.unscored_sessions)} not scored (no annotation)")
    rows, pair_notes = paired_tests(task, results, labels, settings)
    notes = [f"{task}: {n}" for n in notes + pair_notes]
    return TaskEvaluation(task, settings, labels, groups, scored_truth, results, rows, notes)


# --- tables and files ---------------------------------------------------------------------------


def main_table(evaluation: TaskEvaluation) -> pd.DataFrame:
    """One row per method: headline (mean and std over folds, or pooled), pooled value, CI."""
    rows = []
    for name, m in evaluation.methods.items():
        row: dict[str, Any] = {
            "task": evaluation.task, "method": name, "kind": m.spec.kind, "inputs": ",".join(m.spec.inputs),
            "folds": len(m.folds), "sessions": len(m.sessions), "frames": sum(s.frames for s in m.sessions),
            "note": m.note,
        }
        for metric in _metrics(evaluation.task, evaluation.settings):
            mean, std = m.headline[metric]
            low, high = m.ci.get(metric, (float("nan"), float("nan")))
            row.update({
                f"{metric}_mean": mean, f"{metric}_std": std, f"{metric}_pooled": m.pooled[metric],
                f"{metric}_ci_low": low, f"{metric}_ci_high": high,
            })
        row["unparseable_frames"] = sum(s.unparseable_frames for s in m.sessions)
        row["no_prediction_frames"] = sum(s.no_prediction_frames for s in m.sessions)
        rows.append(row)
    return pd.DataFrame(rows, columns=_main_columns(evaluation))


def _main_columns(evaluation: TaskEvaluation) -> list[str]:
    columns = ["task", "method", "kind", "inputs", "folds", "sessions", "frames", "note"]
    for metric in _metrics(evaluation.task, evaluation.settings):
        columns += [f"{metric}_{s}" for s in ("mean", "std", "pooled", "ci_low", "ci_high")]
    return columns + ["unparseable_frames", "no_prediction_frames"]


def per_fold_table(evaluation: TaskEvaluation) -> pd.DataFrame:
    rows = []
    for name, m in evaluation.methods.items():
        for fold, values in m.per_fold.items():
            members = [s for s in m.sessions if s.fold == fold]
            rows.append({"task": evaluation.task, "method": name, "fold": fold, "sessions": len(members),
                         "frames": sum(s.frames for s in members), **values})
    return pd.DataFrame(rows, columns=["task", "method", "fold", "sessions", "frames",
                                       *_metrics(evaluation.task, evaluation.settings)])


def per_session_table(evaluation: TaskEvaluation) -> pd.DataFrame:
    rows = []
    metrics = _metrics(evaluation.task, evaluation.settings)
    for name, m in evaluation.methods.items():
        for s in m.sessions:
            values = pooled_metrics(evaluation.task, [s], evaluation.labels, evaluation.settings)
            rows.append({"task": evaluation.task, "method": name, "session": s.session, "fold": s.fold,
                         "procedure": s.procedure or "", "frames": s.frames, **values,
                         "unparseable_frames": s.unparseable_frames, "no_prediction_frames": s.no_prediction_frames})
    return pd.DataFrame(rows, columns=["task", "method", "session", "fold", "procedure", "frames", *metrics,
                                       "unparseable_frames", "no_prediction_frames"])


def per_class_table(evaluation: TaskEvaluation) -> pd.DataFrame:
    """Pooled per-class precision/recall/F1/support of each method (labels of the task's sets
    that occur in the truth or the predictions)."""
    group_of = {label: group for group, labels in evaluation.groups.items() for label in labels}
    task = get_task(evaluation.task)
    rows = []
    for name, m in evaluation.methods.items():
        for label, values in m.per_class.items():
            predicted = sum(int(s.confusion[:, evaluation.labels.index(label)].sum()) for s in m.sessions)
            if values["support"] == 0 and predicted == 0:
                continue
            group = group_of.get(label, "") if task.per_procedure else "all"
            if label in evaluation.settings.background_labels and task.segmental:
                group = "(all procedures)"
            rows.append({"task": evaluation.task, "method": name, "group": group, "label": label, **values,
                         "predicted": predicted})
    return pd.DataFrame(rows, columns=["task", "method", "group", "label", "precision", "recall", "f1",
                                       "support", "predicted"])


def confusion_table(evaluation: TaskEvaluation) -> pd.DataFrame:
    """Long confusion matrices per method and group (procedure for steps): every cell of the
    group's labels plus any other predicted label that occurs in the group's sessions."""
    rows = []
    task = get_task(evaluation.task)
    index = {label: i for i, label in enumerate(evaluation.labels)}
    for name, m in evaluation.methods.items():
        for group, group_labels in evaluation.groups.items():
            members = [s for s in m.sessions if not task.per_procedure or s.procedure == group]
            if not members:
                continue
            matrix = sum(s.confusion for s in members)
            columns = list(group_labels) + [
                label for label in evaluation.labels if label not in group_labels and matrix[:, index[label]].sum()
            ]
            for truth_label in group_labels:
                for predicted in columns:
                    rows.append({"task": evaluation.task, "method": name, "group": group, "truth": truth_label,
                                 "predicted": predicted, "count": int(matrix[index[truth_label], index[predicted]])})
    return pd.DataFrame(rows, columns=["task", "method", "group", "truth", "predicted", "count"])


def frames_table(evaluation: TaskEvaluation) -> pd.DataFrame:
    """The grid of every method and session: session, t, truth, method, fold, label."""
    parts = []
    for name, m in evaluation.methods.items():
        for s in m.sessions:
            truth = evaluation.truth[s.session]
            parts.append(pd.DataFrame({
                "session": s.session, "t": truth.times, "truth": truth.labels, "method": name,
                "fold": np.int64(s.fold), "label": s.predicted,
            }))
    if not parts:
        return pd.DataFrame({
            "session": pd.Series(dtype=str), "t": pd.Series(dtype=float), "truth": pd.Series(dtype=str),
            "method": pd.Series(dtype=str), "fold": pd.Series(dtype=np.int64), "label": pd.Series(dtype=str),
        })
    return pd.concat(parts, ignore_index=True)


def summary_json(evaluation: TaskEvaluation) -> dict[str, Any]:
    """metrics.json: settings, label groups, methods (kind, inputs, folds, sessions, note)."""
    return {
        "task": evaluation.task,
        "settings": evaluation.settings.to_mapping(),
        "metrics": list(_metrics(evaluation.task, evaluation.settings)),
        "labels": evaluation.labels,
        "groups": evaluation.groups,
        "sessions": {
            s: {"procedure": t.procedure, "frames": len(t.labels), "grid_frames": t.grid_frames,
                "end_s": float(t.grid_frames / evaluation.settings.rate_hz)}
            for s, t in evaluation.truth.items()
        },
        "methods": {
            name: {
                "kind": m.spec.kind, "inputs": list(m.spec.inputs), "folds": m.folds,
                "sessions": [s.session for s in m.sessions], "unscored_sessions": m.unscored_sessions,
                "note": m.note, "pooled": m.pooled,
                "headline": {k: list(v) for k, v in m.headline.items()},
                "ci": {k: list(v) for k, v in m.ci.items()},
            }
            for name, m in evaluation.methods.items()
        },
        "notes": evaluation.notes,
    }


#: The evaluation's outputs of one task, by name (the workflow gives each its path: rule evaluate).
OUTPUTS = ("main", "per_fold", "per_session", "per_class", "confusion", "paired_tests", "frames", "summary")


def output_tables(evaluation: TaskEvaluation) -> dict[str, pd.DataFrame]:
    """The CSV tables of one task by output name."""
    return {
        "main": main_table(evaluation),
        "per_fold": per_fold_table(evaluation),
        "per_session": per_session_table(evaluation),
        "per_class": per_class_table(evaluation),
        "confusion": confusion_table(evaluation),
        "paired_tests": pd.DataFrame(evaluation.pairs, columns=[
            "task", "method_a", "method_b", "why", "metric", "value_a", "value_b", "difference", "p_value",
            "n_sessions"]),
    }


def write_outputs(evaluation: TaskEvaluation, outputs: Mapping[str, str | Path]) -> None:
    """Write every output of :data:`OUTPUTS` to its path in ``outputs`` (atomically, one file at
    a time): the CSV tables, ``frames`` (Parquet) and ``summary`` (JSON)."""
    missing = [name for name in OUTPUTS if name not in outputs]
    if missing:
        raise ValueError(f"no path for evaluation output(s) {', '.join(missing)}")
    for name, table in output_tables(evaluation).items():
        with atomic_path(outputs[name]) as tmp:
            table.to_csv(tmp, index=False)
    with atomic_path(outputs["frames"]) as tmp:
        pq.write_table(pa.Table.from_pandas(frames_table(evaluation), preserve_index=False), tmp)
    write_json(outputs["summary"], json_safe(summary_json(evaluation)))


def methods_from_registry(
    task: str, registry: Mapping[str, Mapping[str, Any]], prediction_files: Sequence[str | Path]
) -> list[MethodSpec]:
    """MethodSpecs from the workflow's ``PREDICTION_METHODS[task]`` entries (kind, inputs,
    sessions) and the prediction files, listed method by method in registry order, each in the
    order of its sessions (the evaluate rule's inputs)."""
    expected = sum(len(entry["sessions"]) for entry in registry.values())
    if expected != len(prediction_files):
        raise InputError(f"{task}: {len(prediction_files)} prediction files for {expected} registered "
                         "(method, session) pairs; the rule's inputs and params disagree")
    specs, position = [], 0
    for name, entry in registry.items():
        sessions = list(entry["sessions"])
        files = list(prediction_files[position:position + len(sessions)])
        position += len(sessions)
        specs.append(MethodSpec(name, str(entry["kind"]), tuple(entry.get("inputs", ())),
                                dict(zip(sessions, files, strict=True))))
    return specs

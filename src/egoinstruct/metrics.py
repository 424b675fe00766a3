"""Evaluation metrics, one pure function each, with their exact definitions.

Step segmentation follows the standard action-segmentation evaluation (the ``eval.py`` of MS-TCN,
also used by ASFormer and MS-TCN++), so numbers are comparable with that literature:

* **frame accuracy**: correct frames / all frames, *pooled* over all frames of all sessions;
  background frames count.
* **segmental Edit**: per session ``(1 − Levenshtein(P, Y) / max(|P|, |Y|)) × 100`` where P and Y
  are the sequences of segment labels of prediction and ground truth with background segments
  dropped; averaged over sessions.
* **F1@τ**: predicted segments are visited in temporal order; each is compared with the single
  ground-truth segment of the *same label* with the highest IoU (the first one on ties). It is a
  true positive if that IoU ≥ τ and that ground-truth segment has not been matched before (no
  second choice); otherwise a false positive. Unmatched ground-truth segments are false
  negatives. TP/FP/FN are summed over all sessions before ``F1 = 2PR / (P + R) × 100``.
  Background segments are dropped.

The two public codebases differ in where the last segment of a sequence ends: MS-TCN ends it at
the sequence length (``end="mstcn"``, the default here), ASFormer / MS-TCN++ one frame earlier
(``end="asformer"``). Only F1 is affected (the IoU of the last segments).

Edge cases (defined, never a crash): Edit is 100 when both sequences have no (non-background)
segment and 0 when exactly one has none; with no ground-truth segment every predicted segment is
a false positive; F1 is 0 when there is no true positive (as MS-TCN's ``nan_to_num``); accuracy
(and every metric of an empty set of sessions) is NaN when there is no frame.

Pooling works on per-session counts (:func:`session_segmentation_counts`,
:func:`confusion_matrix`): a set of sessions — all of them, one fold, a bootstrap resample — is
scored by summing its sessions' counts (:func:`pool_segmentation`,
:func:`classification_from_confusion`), which gives exactly the figures of
:func:`segmentation_metrics` / :func:`classification_metrics` on the same frames.

Conversation states are scored as classification: accuracy, macro-F1 over the classes present in
the ground truth or the predictions, per-class precision/recall/F1, and the confusion matrix;
frame-level, and window-level on the majority label of each window (:func:`window_labels`).
Across folds: metrics per fold, then mean ± std (sample std, ddof = 1) over folds. Uncertainty:
percentile bootstrap over sessions (resampling sessions with replacement and recomputing the
pooled metric), and a paired bootstrap test between two methods on the same sessions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

DEFAULT_OVERLAPS = (0.10, 0.25, 0.50)
T = TypeVar("T")


@dataclass(frozen=True)
class Segment:
    label: str
    start: int  # first frame
    end: int  # exclusive end frame (see the module docstring for the last segment)


def segments(
    frame_labels: Sequence[str], background: Sequence[str] = ("background",), end: str = "mstcn"
) -> list[Segment]:
    """Maximal runs of equal labels, background runs dropped.

    ``end="mstcn"``: a segment ends where the next begins and the last one at ``len(labels)``;
    ``end="asformer"``: the same, except that the last segment ends at ``len(labels) − 1``.
    """
    if end not in ("mstcn", "asformer"):
        raise ValueError(f"end must be 'mstcn' or 'asformer', got {end!r}")
    labels = list(frame_labels)
    out: list[Segment] = []
    if not labels:
        return out
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            stop = i
            if i == len(labels) and end == "asformer":
                stop = i - 1
            if labels[start] not in background:
                out.append(Segment(labels[start], start, stop))
            start = i
    return out


def levenshtein(a: Sequence[str], b: Sequence[str]) -> int:
    """Edit distance (insertions, deletions, substitutions all cost 1)."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, y in enumerate(b, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y))
        previous = current
    return previous[-1]


def edit_score(
    predicted: Sequence[str], truth: Sequence[str], background: Sequence[str] = ("background",)
) -> float:
    """Segmental Edit score of one session (0–100)."""
    p = [s.label for s in segments(predicted, background)]
    y = [s.label for s in segments(truth, background)]
    if not p and not y:
        return 100.0
    return (1.0 - levenshtein(p, y) / max(len(p), len(y))) * 100.0


def f1_counts(
    predicted: Sequence[str],
    truth: Sequence[str],
    overlap: float,
    background: Sequence[str] = ("background",),
    end: str = "mstcn",
) -> tuple[int, int, int]:
    """(TP, FP, FN) of one session at IoU threshold ``overlap``."""
    pred = segments(predicted, background, end)
    gt = segments(truth, background, end)
    matched = np.zeros(len(gt), dtype=bool)
    tp = fp = 0
    gt_start = np.array([s.start for s in gt], dtype=float)
    gt_end = np.array([s.end for s in gt], dtype=float)
    gt_label = np.array([s.label for s in gt], dtype=object)
    for p in pred:
        if not gt:
            fp += 1
            continue
        intersection = np.minimum(p.end, gt_end) - np.maximum(p.start, gt_start)
        union = np.maximum(p.end, gt_end) - np.minimum(p.start, gt_start)
        same = gt_label == p.label
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = np.where(union > 0, intersection / union, 0.0) * same
        best = int(np.argmax(iou))  # first on ties
        if iou[best] >= overlap and not matched[best]:
            tp += 1
            matched[best] = True
        else:
            fp += 1
    return tp, fp, int((~matched).sum())


def f1_from_counts(tp: float, fp: float, fn: float) -> float:
    """F1 × 100 from summed counts; 0 when there is no true positive."""
    if tp == 0:
        return 0.0
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return 200.0 * precision * recall / (precision + recall)


def frame_accuracy(predicted: Sequence[Sequence[str]], truth: Sequence[Sequence[str]]) -> float:
    """Correct frames / all frames (× 100), pooled over sessions."""
    correct = total = 0
    for p, y in zip(predicted, truth, strict=True):
        if len(p) != len(y):
            raise ValueError(f"prediction has {len(p)} frames, ground truth {len(y)}")
        correct += int(np.sum(np.asarray(p, dtype=object) == np.asarray(y, dtype=object)))
        total += len(y)
    return 100.0 * correct / total if total else float("nan")


@dataclass(frozen=True)
class SessionSegmentationCounts:
    """What one session contributes to the pooled step-segmentation metrics.

    ``correct`` / ``frames`` feed the pooled frame accuracy, ``edit`` the mean Edit, and
    ``counts[τ] = (TP, FP, FN)`` the summed F1@τ. Pooling these (:func:`pool_segmentation`) gives
    exactly :func:`segmentation_metrics`, so per-fold figures and bootstrap resamples need the
    frame-level work only once per session.
    """

    frames: int
    correct: int
    edit: float
    counts: dict[float, tuple[int, int, int]]


def session_segmentation_counts(
    predicted: Sequence[str],
    truth: Sequence[str],
    background: Sequence[str] = ("background",),
    end: str = "mstcn",
    overlaps: Sequence[float] = DEFAULT_OVERLAPS,
) -> SessionSegmentationCounts:
    """Frame, Edit and TP/FP/FN counts of one session (see :class:`SessionSegmentationCounts`)."""
    if len(predicted) != len(truth):
        raise ValueError(f"prediction has {len(predicted)} frames, ground truth {len(truth)}")
    correct = int(np.sum(np.asarray(list(predicted), dtype=object) == np.asarray(list(truth), dtype=object)))
    return SessionSegmentationCounts(
        frames=len(truth),
        correct=correct,
        edit=edit_score(predicted, truth, background),
        counts={overlap: f1_counts(predicted, truth, overlap, background, end) for overlap in overlaps},
    )


def pool_segmentation(
    sessions: Sequence[SessionSegmentationCounts], overlaps: Sequence[float] = DEFAULT_OVERLAPS
) -> dict[str, float]:
    """Frame accuracy (pooled frames), Edit (mean over sessions) and F1@τ (summed TP/FP/FN) of a
    set of sessions; NaN for every metric when there is no session (or no frame, for accuracy)."""
    if not sessions:
        return {"accuracy": float("nan"), "edit": float("nan"), **{overlap_key(o): float("nan") for o in overlaps}}
    frames = sum(s.frames for s in sessions)
    result = {
        "accuracy": 100.0 * sum(s.correct for s in sessions) / frames if frames else float("nan"),
        "edit": float(np.mean([s.edit for s in sessions])),
    }
    for overlap in overlaps:
        counts = np.sum([s.counts[overlap] for s in sessions], axis=0)
        result[overlap_key(overlap)] = f1_from_counts(*counts)
    return result


def overlap_key(overlap: float) -> str:
    """The metric name of F1 at IoU threshold ``overlap``: 0.1 → ``f1@10``."""
    return f"f1@{int(round(overlap * 100))}"


def segmentation_metrics(
    predicted: Sequence[Sequence[str]],
    truth: Sequence[Sequence[str]],
    background: Sequence[str] = ("background",),
    end: str = "mstcn",
    overlaps: Sequence[float] = DEFAULT_OVERLAPS,
) -> dict[str, float]:
    """Frame accuracy, Edit and F1@overlaps over a set of sessions (see the module docstring)."""
    if len(predicted) != len(truth):
        raise ValueError(f"{len(predicted)} predicted sessions for {len(truth)} ground-truth sessions")
    return pool_segmentation(
        [session_segmentation_counts(p, y, background, end, overlaps) for p, y in zip(predicted, truth, strict=True)],
        overlaps,
    )


def confusion_matrix(
    predicted: Sequence[str], truth: Sequence[str], labels: Sequence[str] | None = None
) -> tuple[list[str], np.ndarray]:
    """(label order, confusion counts): rows are the truth, columns the prediction.

    ``labels`` fixes the order; labels outside it (e.g. an MLLM's "unparseable") are appended in
    sorted order. Without ``labels`` the order is the sorted union of both sequences.
    """
    p = list(predicted)
    y = list(truth)
    if len(p) != len(y):
        raise ValueError(f"{len(p)} predictions for {len(y)} ground-truth labels")
    order = list(labels) if labels is not None else sorted(set(y) | set(p))
    order_all = order + sorted((set(p) | set(y)) - set(order))
    index = {label: i for i, label in enumerate(order_all)}
    confusion = np.zeros((len(order_all), len(order_all)), dtype=np.int64)
    if y:
        np.add.at(confusion, ([index[a] for a in y], [index[b] for b in p]), 1)
    return order_all, confusion


def classification_from_confusion(labels: Sequence[str], confusion: np.ndarray) -> dict[str, object]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support from a confusion matrix (rows:
    truth, columns: prediction, both in the order of ``labels``).

    Per class: precision = TP / predicted, recall = TP / true, F1 their harmonic mean (each 0 when
    undefined), in percent. Macro-F1 averages F1 over the classes present in the truth or the
    predictions (a class with neither is not counted). Accuracy is NaN for an empty matrix.
    """
    confusion = np.asarray(confusion, dtype=np.int64)
    labels = list(labels)
    if confusion.shape != (len(labels), len(labels)):
        raise ValueError(f"confusion matrix of shape {confusion.shape} for {len(labels)} labels")
    total = int(confusion.sum())
    tp = np.diag(confusion).astype(float)
    predicted = confusion.sum(axis=0).astype(float)
    true = confusion.sum(axis=1).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(true > 0, tp / true, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = (predicted > 0) | (true > 0)
    per_class = {
        label: {
            "precision": 100.0 * float(precision[i]),
            "recall": 100.0 * float(recall[i]),
            "f1": 100.0 * float(f1[i]),
            "support": int(true[i]),
        }
        for i, label in enumerate(labels)
    }
    return {
        "accuracy": 100.0 * float(tp.sum()) / total if total else float("nan"),
        "macro_f1": 100.0 * float(f1[present].mean()) if present.any() else float("nan"),
        "per_class": per_class,
        "labels": labels,
        "confusion": confusion,
    }


def classification_metrics(
    predicted: Sequence[str], truth: Sequence[str], labels: Sequence[str] | None = None
) -> dict[str, object]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix.

    ``labels`` fixes the order of the confusion matrix (rows: truth, columns: prediction); labels
    outside it (e.g. an MLLM's "unparseable") still count as errors. Macro-F1 averages over the
    classes present in the truth or the predictions.
    """
    order, confusion = confusion_matrix(predicted, truth, labels)
    return classification_from_confusion(order, confusion)


def window_labels(frame_labels: Sequence[str], window: int, hop: int) -> list[str]:
    """Majority label of each window of ``window`` frames every ``hop`` frames (ties: the label
    that comes first in the window), for window-level scoring of frame-wise labels."""
    labels = list(frame_labels)
    out = []
    for start in range(0, max(1, len(labels) - window + 1), hop):
        chunk = labels[start : start + window]
        values, first = np.unique(np.asarray(chunk, dtype=object), return_index=True)
        counts = np.array([chunk.count(v) for v in values])
        best = np.flatnonzero(counts == counts.max())
        out.append(values[best[np.argmin(first[best])]])
    return out


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof = 1; 0 for a single value)."""
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        return float("nan"), float("nan")
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else 0.0


def bootstrap_cis(
    sessions: Sequence[T],
    metrics: Callable[[Sequence[T]], Mapping[str, float]],
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap CIs of every metric ``metrics`` returns, from one set of resamples.

    Each resample draws ``len(sessions)`` sessions with replacement (numpy's ``default_rng(seed)``)
    and recomputes the pooled metrics; the CI is the (1 − confidence)/2 and (1 + confidence)/2
    percentiles of the resampled values (NaN resamples ignored; NaN when there is no session).
    """
    if not sessions:
        return {}
    rng = np.random.default_rng(seed)
    n = len(sessions)
    draws = [metrics([sessions[i] for i in rng.integers(0, n, n)]) for _ in range(n_resamples)]
    alpha = (1.0 - confidence) / 2.0
    out = {}
    for name in draws[0]:
        values = np.array([d[name] for d in draws], dtype=float)
        if np.all(np.isnan(values)):
            out[name] = (float("nan"), float("nan"))
        else:
            out[name] = (
                float(np.nanpercentile(values, 100 * alpha)),
                float(np.nanpercentile(values, 100 * (1 - alpha))),
            )
    return out


def bootstrap_ci(
    sessions: Sequence[T],
    metric: Callable[[Sequence[T]], float],
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``metric`` over sessions resampled with replacement.

    ``sessions`` holds whatever ``metric`` needs per session (e.g. (prediction, truth) pairs);
    ``metric`` computes the pooled figure from a list of them.
    """
    cis = bootstrap_cis(sessions, lambda s: {"value": metric(s)}, n_resamples, confidence, seed)
    return cis.get("value", (float("nan"), float("nan")))


def paired_bootstrap_tests(
    sessions_a: Sequence[T],
    sessions_b: Sequence[T],
    metrics: Callable[[Sequence[T]], Mapping[str, float]],
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Two-sided paired bootstrap tests of metric(A) − metric(B) for every metric, on the same
    sessions (``sessions_a[i]`` and ``sessions_b[i]`` are the same session).

    The same session indices are resampled for both methods; ``p_value`` is twice the smaller
    share of resampled differences on either side of 0 (capped at 1; NaN when every resample
    is NaN). ``difference`` is the observed difference on all sessions.
    """
    if len(sessions_a) != len(sessions_b):
        raise ValueError("paired test needs the two methods' results on the same sessions")
    if not sessions_a:
        return {}
    rng = np.random.default_rng(seed)
    n = len(sessions_a)
    observed_a, observed_b = metrics(list(sessions_a)), metrics(list(sessions_b))
    diffs: dict[str, list[float]] = {name: [] for name in observed_a}
    for _ in range(n_resamples):
        idx = rng.integers(0, n, n)
        a = metrics([sessions_a[i] for i in idx])
        b = metrics([sessions_b[i] for i in idx])
        for name in diffs:
            diffs[name].append(a[name] - b[name])
    out = {}
    for name, values in diffs.items():
        array = np.array(values, dtype=float)
        array = array[~np.isnan(array)]
        p = 2.0 * min(np.mean(array <= 0), np.mean(array >= 0)) if array.size else float("nan")
        out[name] = {
            "difference": float(observed_a[name] - observed_b[name]),
            "p_value": float(min(1.0, p)),
        }
    return out


def paired_bootstrap_test(
    sessions_a: Sequence[T],
    sessions_b: Sequence[T],
    metric: Callable[[Sequence[T]], float],
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """Two-sided paired bootstrap test of metric(A) − metric(B) on the same sessions.

    The same session indices are resampled for both methods; ``p_value`` is twice the smaller
    share of resampled differences on either side of 0 (capped at 1).
    """
    if len(sessions_a) != len(sessions_b):
        raise ValueError("paired test needs the two methods' results on the same sessions")
    tests = paired_bootstrap_tests(sessions_a, sessions_b, lambda s: {"value": metric(s)}, n_resamples, seed)
    return tests.get("value", {"difference": float("nan"), "p_value": float("nan")})

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
a false positive; F1 is 0 when there is no true positive.

Conversation states are scored as classification: accuracy, macro-F1 over the classes present in
the ground truth or the predictions, per-class precision/recall/F1, and the confusion matrix.
Across folds: metrics per fold, then mean ± std (sample std, ddof = 1) over folds. Uncertainty:
percentile bootstrap over sessions (resampling sessions with replacement and recomputing the
pooled metric), and a paired bootstrap test between two methods on the same sessions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_OVERLAPS = (0.10, 0.25, 0.50)


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
    for p in pred:
        if not gt:
            fp += 1
            continue
        intersection = np.minimum(p.end, gt_end) - np.maximum(p.start, gt_start)
        union = np.maximum(p.end, gt_end) - np.minimum(p.start, gt_start)
        same = np.array([g.label == p.label for g in gt])
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


def segmentation_metrics(
    predicted: Sequence[Sequence[str]],
    truth: Sequence[Sequence[str]],
    background: Sequence[str] = ("background",),
    end: str = "mstcn",
    overlaps: Sequence[float] = DEFAULT_OVERLAPS,
) -> dict[str, float]:
    """Frame accuracy, Edit and F1@overlaps over a set of sessions (see the module docstring)."""
    result = {
        "accuracy": frame_accuracy(predicted, truth),
        "edit": float(np.mean([edit_score(p, y, background) for p, y in zip(predicted, truth, strict=True)])),
    }
    for overlap in overlaps:
        counts = np.zeros(3)
        for p, y in zip(predicted, truth, strict=True):
            counts += f1_counts(p, y, overlap, background, end)
        result[f"f1@{int(round(overlap * 100))}"] = f1_from_counts(*counts)
    return result


def classification_metrics(
    predicted: Sequence[str], truth: Sequence[str], labels: Sequence[str] | None = None
) -> dict[str, object]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix.

    ``labels`` fixes the order of the confusion matrix (rows: truth, columns: prediction); labels
    outside it (e.g. an MLLM's "unparseable") still count as errors. Macro-F1 averages over the
    classes present in the truth or the predictions.
    """
    p = np.asarray(list(predicted), dtype=object)
    y = np.asarray(list(truth), dtype=object)
    if len(p) != len(y):
        raise ValueError(f"{len(p)} predictions for {len(y)} ground-truth labels")
    order = list(labels) if labels is not None else sorted(set(y) | set(p))
    extra = sorted(set(p) - set(order))
    order_all = order + extra
    index = {label: i for i, label in enumerate(order_all)}
    confusion = np.zeros((len(order_all), len(order_all)), dtype=np.int64)
    for a, b in zip(y, p, strict=True):
        confusion[index[a], index[b]] += 1
    per_class: dict[str, dict[str, float]] = {}
    present = set(y) | set(p)
    f1s = []
    for label in order_all:
        i = index[label]
        tp = confusion[i, i]
        fp = confusion[:, i].sum() - tp
        fn = confusion[i, :].sum() - tp
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {
            "precision": 100.0 * precision,
            "recall": 100.0 * recall,
            "f1": 100.0 * f1,
            "support": int(confusion[i, :].sum()),
        }
        if label in present:
            f1s.append(100.0 * f1)
    return {
        "accuracy": 100.0 * float(np.mean(p == y)) if len(y) else float("nan"),
        "macro_f1": float(np.mean(f1s)) if f1s else float("nan"),
        "per_class": per_class,
        "labels": order_all,
        "confusion": confusion,
    }


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


def bootstrap_ci(
    sessions: Sequence[object],
    metric: Callable[[Sequence[object]], float],
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``metric`` over sessions resampled with replacement.

    ``sessions`` holds whatever ``metric`` needs per session (e.g. (prediction, truth) pairs);
    ``metric`` computes the pooled figure from a list of them.
    """
    rng = np.random.default_rng(seed)
    n = len(sessions)
    stats = [metric([sessions[i] for i in rng.integers(0, n, n)]) for _ in range(n_resamples)]
    alpha = (1.0 - confidence) / 2.0
    return float(np.nanpercentile(stats, 100 * alpha)), float(np.nanpercentile(stats, 100 * (1 - alpha)))


def paired_bootstrap_test(
    sessions_a: Sequence[object],
    sessions_b: Sequence[object],
    metric: Callable[[Sequence[object]], float],
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """Two-sided paired bootstrap test of metric(A) − metric(B) on the same sessions.

    The same session indices are resampled for both methods; ``p_value`` is twice the smaller
    share of resampled differences on either side of 0 (capped at 1).
    """
    if len(sessions_a) != len(sessions_b):
        raise ValueError("paired test needs the two methods' results on the same sessions")
    rng = np.random.default_rng(seed)
    n = len(sessions_a)
    observed = metric(list(sessions_a)) - metric(list(sessions_b))
    diffs = np.empty(n_resamples)
    for k in range(n_resamples):
        idx = rng.integers(0, n, n)
        diffs[k] = metric([sessions_a[i] for i in idx]) - metric([sessions_b[i] for i in idx])
    p = 2.0 * min(np.mean(diffs <= 0), np.mean(diffs >= 0))
    return {"difference": float(observed), "p_value": float(min(1.0, p))}

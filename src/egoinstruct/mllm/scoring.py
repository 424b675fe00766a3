"""A quick score of one MLLM run against the annotations (the stage's own summary).

The evaluation stage is the authority on metrics across methods; this summary lets the MLLM
stage report, next to its call statistics, how its predictions compare with the annotations,
using the project's metric functions (:mod:`egoinstruct.metrics`):

* the ground truth at each prediction time ``t`` is the label of the annotation segment of the
  task's tier with ``t_start <= t < t_end``; prediction times outside every segment are not
  scored;
* both tasks: accuracy and macro-F1 over frames pooled across sessions
  (:func:`~egoinstruct.metrics.classification_metrics`; the label ``unparseable`` counts as an
  error, never as a class), per-class F1, and the share of frames labelled ``unparseable``;
* steps also: segmental Edit and F1@{10, 25, 50} (:func:`~egoinstruct.metrics.segmentation_metrics`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from egoinstruct.annotations import labels_at_times, read_segments
from egoinstruct.metrics import classification_metrics, segmentation_metrics
from egoinstruct.mllm.parse import UNPARSEABLE
from egoinstruct.tables import read_table


def score_run(
    task: str,
    predictions: Mapping[str, str | Path],
    annotations: Mapping[str, str | Path],
    label_order: list[str] | None = None,
    eaf_tiers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Metrics of the predictions (session → Parquet) against the annotations (session → file)."""
    predicted: list[list[str]] = []
    truth: list[list[str]] = []
    sessions = []
    for session, path in predictions.items():
        if session not in annotations:
            continue
        table = read_table(path, "predictions").to_pandas()
        segments = read_segments(annotations[session], session, eaf_tiers)
        segments = segments[segments.tier == task]
        gold = labels_at_times(segments, table.t.to_numpy(float))
        keep = [i for i, g in enumerate(gold) if g is not None]
        predicted.append([table.label.iloc[i] for i in keep])
        truth.append([gold[i] for i in keep])  # type: ignore[misc]
        sessions.append(session)
    flat_p = [x for p in predicted for x in p]
    flat_y = [x for y in truth for x in y]
    result: dict[str, Any] = {"task": task, "sessions_scored": sessions, "frames_scored": len(flat_y)}
    if not flat_y:
        return result
    classification = classification_metrics(flat_p, flat_y, label_order)
    result.update(
        accuracy=classification["accuracy"],
        macro_f1=classification["macro_f1"],
        per_class_f1={k: v["f1"] for k, v in classification["per_class"].items()},
        unparseable_frame_rate=sum(1 for p in flat_p if p == UNPARSEABLE) / len(flat_p),
        majority_baseline_accuracy=100.0 * pd.Series(flat_y).value_counts().iloc[0] / len(flat_y),
        predicted_label_counts=pd.Series(flat_p).value_counts().to_dict(),
    )
    if task == "steps":
        result["segmentation"] = segmentation_metrics(predicted, truth)
    return result

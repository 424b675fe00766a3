"""The score of one MLLM run, on the evaluation's grid (the ``mllm_summary`` rule).

The MLLM stage reports, next to its call statistics, how its predictions compare with the
annotations. It scores exactly as the ``evaluate`` rule does (:mod:`egoinstruct.evaluation`: the
same grid, the same sample-and-hold of the predictions, the validated annotations of a session, the
same metric definitions), so the accuracy in ``results/mllm/summary.tsv`` is the pooled accuracy
of this method in ``results/metrics/{task}/main.csv`` — one run, one number.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from egoinstruct.evaluation import UNPARSEABLE, MethodSpec, evaluate_task, load_truth
from egoinstruct.io import json_safe
from egoinstruct.settings.evaluation import EvaluationSettings


def score_run(
    task: str,
    method: str,
    predictions: Mapping[str, str | Path],
    annotations: Mapping[str, tuple[str | None, pd.DataFrame]],
    settings: EvaluationSettings,
    labels_dir: str | Path,
) -> dict[str, Any]:
    """Pooled metrics of one zero-shot method's predictions (session → Parquet) against the
    validated annotations (session → (procedure, segment table)), with what the run answered."""
    truth = load_truth(task, annotations, settings.rate_hz)
    spec = MethodSpec(method, "zero-shot", (), dict(predictions))
    # only this method: no majority row, no paired tests
    alone = dataclasses.replace(settings, majority_reference=False, pairs=())
    evaluation = evaluate_task(task, [spec], truth, labels_dir, alone)
    result = evaluation.methods[method]
    predicted = [label for s in result.sessions for label in s.predicted]
    gold = [label for s in result.sessions for label in truth[s.session].labels]
    out: dict[str, Any] = {
        "task": task,
        "grid_rate_hz": settings.rate_hz,
        "sessions_scored": [s.session for s in result.sessions],
        "frames_scored": len(gold),
    }
    if not gold:
        return out
    out.update(
        {name: value for name, value in result.pooled.items()},
        per_class_f1={label: values["f1"] for label, values in result.per_class.items() if values["support"]},
        unparseable_frame_rate=predicted.count(UNPARSEABLE) / len(predicted),
        majority_baseline_accuracy=100.0 * Counter(gold).most_common(1)[0][1] / len(gold),
        predicted_label_counts=dict(Counter(predicted).most_common()),
    )
    return dict(json_safe(out))

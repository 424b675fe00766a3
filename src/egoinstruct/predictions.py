"""The predictions contract shared by every method (baselines, MLLMs).

``results/predictions/{task}/{method}/{session}.parquet``: one row per prediction time on the
session clock — ``t`` (float64 s), ``label`` (string), ``fold`` (int64: the cross-validation fold
whose model made it; −1 for zero-shot methods) — and optionally one ``score_<label>`` (float64)
column per label of the set. The label set is stored in the metadata (``label_set``, JSON).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from egoinstruct.io import atomic_path
from egoinstruct.tables import PREDICTIONS_SCHEMA, with_metadata

ZERO_SHOT_FOLD = -1
# The label of an instant whose answer could not be parsed (MLLMs): an error for every metric,
# never one of the classes, so no label set may use it.
UNPARSEABLE = "unparseable"


def score_column(label: str) -> str:
    return f"score_{label}"


def write_predictions(
    path: str | Path,
    times: np.ndarray,
    labels_out: Sequence[str],
    label_set: Sequence[str],
    scores: np.ndarray | None,
    metadata: dict[str, str],
    fold: int = ZERO_SHOT_FOLD,
) -> None:
    """Write a predictions table (schema :data:`PREDICTIONS_SCHEMA` plus ``score_<label>``
    columns when ``scores`` ``[T, len(label_set)]`` is given); every row gets ``fold``."""
    fields = list(PREDICTIONS_SCHEMA)
    columns: list[pa.Array] = [
        pa.array(times, pa.float64()),
        pa.array(list(labels_out), pa.string()),
        pa.array(np.full(len(times), fold, dtype=np.int64), pa.int64()),
    ]
    if scores is not None:
        for j, label in enumerate(label_set):
            fields.append(pa.field(score_column(label), pa.float64()))
            columns.append(pa.array(scores[:, j], pa.float64()))
    schema = with_metadata(pa.schema(fields), {**metadata, "label_set": json.dumps(list(label_set))})
    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_arrays(columns, schema=schema), tmp)

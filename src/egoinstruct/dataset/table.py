"""``results/sessions/{session}/dataset.parquet``: write, read, and pick feature groups.

Columns: ``t`` (float64, session clock), one label column per task (``Task.label_column``:
``step``, ``state``; string, null where unannotated), then one ``fixed_size_list<float32>`` column per feature group (see
:mod:`egoinstruct.dataset.assemble`). Metadata: session, procedure, fps, and the feature names of
every group (JSON), so a model can say which inputs it saw.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from egoinstruct.dataset.assemble import GROUPS, Assembled
from egoinstruct.errors import InputError
from egoinstruct.io import atomic_path
from egoinstruct.tables import SCHEMAS, read_table, table_metadata, with_metadata
from egoinstruct.tasks import TASKS

DATASET_SCHEMA = pa.schema(
    [
        pa.field("t", pa.float64(), nullable=False),  # k / dataset.fps, session clock (s)
        # each task's label at t; null where unannotated
        *(pa.field(task.label_column, pa.string()) for task in TASKS.values()),
    ]
)
SCHEMAS["dataset"] = DATASET_SCHEMA

#: Task name -> label column.
LABEL_COLUMNS = {name: task.label_column for name, task in TASKS.items()}


def write_dataset(path: str | Path, data: Assembled, metadata: Mapping[str, str] | None = None) -> None:
    """Write an assembled session atomically."""
    fields = list(DATASET_SCHEMA)
    arrays: list[pa.Array] = [
        pa.array(data.t, pa.float64()),
        *(pa.array(data.labels[name], pa.string()) for name in LABEL_COLUMNS),
    ]
    for group in GROUPS:
        values = np.ascontiguousarray(data.features[group], dtype=np.float32)
        width = values.shape[1]
        fields.append(pa.field(group, pa.list_(pa.float32(), width), nullable=False))
        arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), width))
    meta = {
        "session": data.session,
        "procedure": data.procedure or "",
        "fps": repr(data.fps),
        "feature_names": json.dumps(data.feature_names),
        **(metadata or {}),
    }
    table = pa.Table.from_arrays(arrays, schema=with_metadata(pa.schema(fields), meta))
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


@dataclass
class SessionDataset:
    """A session's dataset table in memory."""

    session: str
    procedure: str | None
    fps: float
    t: np.ndarray
    labels: dict[str, list[str | None]]  # tier -> label per frame
    features: dict[str, np.ndarray]  # group -> [T, D] float32
    feature_names: dict[str, list[str]]

    def matrix(self, groups: Sequence[str]) -> np.ndarray:
        """Features of ``groups`` side by side, ``[T, ΣD]``."""
        return np.concatenate([self.features[g] for g in groups], axis=1)


def group_ranges(names: Mapping[str, Sequence[str]], groups: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Column range of each group in :meth:`SessionDataset.matrix` of ``groups``."""
    ranges, start = {}, 0
    for group in groups:
        ranges[group] = (start, start + len(names[group]))
        start += len(names[group])
    return ranges


def read_dataset(path: str | Path, groups: Sequence[str] | None = None) -> SessionDataset:
    """Read a dataset table (only ``groups`` when given), checking its columns."""
    wanted = list(GROUPS if groups is None else groups)
    unknown = sorted(set(wanted) - set(GROUPS))
    if unknown:
        raise InputError(f"unknown feature group(s) {unknown}; known: {', '.join(GROUPS)}")
    table = read_table(path, "dataset")
    missing = [g for g in wanted if g not in table.column_names]
    if missing:
        raise InputError(f"{path}: no feature column(s) {missing}; rerun the assemble rule")
    meta = table_metadata(path)
    names = json.loads(meta.get("feature_names", "{}"))
    features = {}
    for group in wanted:
        column = table.column(group).combine_chunks()
        width = column.type.list_size
        features[group] = np.asarray(column.flatten().to_numpy(), dtype=np.float32).reshape(-1, width)
    return SessionDataset(
        session=meta.get("session", Path(path).parent.name),
        procedure=meta.get("procedure") or None,
        fps=float(meta.get("fps", "nan")),
        t=table.column("t").to_numpy(),
        labels={tier: table.column(col).to_pylist() for tier, col in LABEL_COLUMNS.items()},
        features=features,
        feature_names={g: names.get(g, []) for g in wanted},
    )

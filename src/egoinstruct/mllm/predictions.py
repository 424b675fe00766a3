"""Window answers → frame-level predictions (the shared predictions contract) and window records.

Frame level: one row per ``t = k / rate_hz`` inside the session (``k = 0 … ⌈duration·rate⌉ − 1``),
columns ``t`` (float64), ``label`` (string), ``fold`` (int64; −1 for zero-shot) and, when the
decoding gives per-label scores (log-likelihood), ``score_<label>`` (float64, the softmax
probability of each label in the window used). Each frame takes the answer of the window
covering it whose centre is nearest (windows overlap when ``hop_s < window_s``; this gives each
window the middle ``hop_s`` of its span); if that window's answer was unparseable, the next
nearest covering window with a parsed answer is used; if none has one, the frame's label is the
literal ``"unparseable"`` — an error for every metric, never one of the classes.

Window level (``results/mllm/{task}/{model}/windows/{session}.parquet``): one row per window
with its span, the inputs shown and left out, the raw response, the parse outcome, the label and
confidence, whether it came from the cache, latency, attempts, token usage and the cache key.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from egoinstruct.io import atomic_path
from egoinstruct.mllm.parse import UNPARSEABLE
from egoinstruct.tables import MLLM_WINDOWS_SCHEMA, with_metadata


@dataclass(frozen=True)
class WindowAnswer:
    t_start: float
    t_end: float
    label: str | None  # None: unparseable
    scores: dict[str, float] | None = None  # label -> probability (softmax over the label set)


def frame_times(duration_s: float, rate_hz: float) -> np.ndarray:
    n = max(0, math.ceil(duration_s * rate_hz - 1e-9))
    return np.arange(n, dtype=np.float64) / rate_hz


def frame_predictions(
    answers: Sequence[WindowAnswer], times: np.ndarray, labels: Sequence[str]
) -> tuple[list[str], np.ndarray | None]:
    """Label per time (and the scores matrix ``[len(times), len(labels)]`` when all answers
    carry scores; NaN rows for frames without a scored answer)."""
    starts = np.array([a.t_start for a in answers])
    ends = np.array([a.t_end for a in answers])
    centres = (starts + ends) / 2
    last_end = ends.max() if len(answers) else 0.0
    with_scores = bool(answers) and all(a.scores is not None for a in answers)
    scores = np.full((len(times), len(labels)), np.nan) if with_scores else None
    out: list[str] = []
    for i, t in enumerate(times):
        covering = np.flatnonzero((starts <= t) & ((t < ends) | ((ends == last_end) & (t <= ends))))
        order = covering[np.argsort(np.abs(centres[covering] - t), kind="stable")]
        chosen = next((j for j in order if answers[j].label is not None), None)
        if chosen is None:
            out.append(UNPARSEABLE)
            continue
        out.append(answers[chosen].label)  # type: ignore[arg-type]
        if scores is not None:
            window_scores = answers[chosen].scores or {}
            scores[i] = [window_scores.get(label, np.nan) for label in labels]
    return out, scores


def write_window_records(path: str | Path, records: Sequence[dict], metadata: dict[str, str]) -> None:
    """Write the window records (schema :data:`MLLM_WINDOWS_SCHEMA`)."""
    schema = with_metadata(MLLM_WINDOWS_SCHEMA, metadata)
    table = pa.Table.from_pylist(list(records), schema=schema)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)

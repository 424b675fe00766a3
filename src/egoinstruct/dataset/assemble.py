"""One table per session at ``dataset.fps`` on the session clock: features and both label tiers.

Row ``k`` describes the instant ``t = k / fps`` (``k = 0 … ⌈duration · fps⌉ − 1``); streams
sampled faster than that (gaze 30 Hz, prosody 100 Hz, head motion 10 Hz) are averaged over the
bin ``[t − ½/fps, t + ½/fps)`` centred on it, and labels are the annotated segment containing
``t``. Features come in groups, each one fixed-width ``float32`` column, so a model can take any
combination (``dataset.modality_sets``):

* ``visual`` — the CNN embedding of each camera role (instructor, learner, exo), nearest frame,
  plus one present/absent flag per role (zeros when a session has no such camera);
* ``gaze`` — per head-worn role: fixation / saccade / gap shares, gaze-target shares (partner's
  face, workspace, other), eye-in-head speed, gaze direction, depth, a present flag;
* ``head_motion`` — per head-worn role: head angular speed (mean, max), global image motion;
* ``prosody`` — per speaking role: speaking and voiced shares, F0 in semitones relative to that
  role's session median, intensity relative to the role's median while speaking;
* ``text`` — who is speaking (instructor / learner / unknown / nobody), time since the last
  utterance ended and since the current one started, a question flag, and the sentence
  embedding of the current utterance (zeros in silence).

Scales are kept near unit size (log-speeds, dB / 10, semitones / 12) so the sequence models need no
per-feature tuning; missing values are 0 with the presence flags telling them apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from egoinstruct.annotations import labels_at_times
from egoinstruct.errors import InputError
from egoinstruct.tables import read_table
from egoinstruct.tasks import TASKS

GROUPS = ("visual", "gaze", "head_motion", "prosody", "text")
CAMERA_ROLES = ("instructor", "learner", "exo")
HEAD_ROLES = ("instructor", "learner")
SPEAKER_CLASSES = ("instructor", "learner", "unknown", "none")

GAZE_EVENTS = ("fixation", "saccade", "gap")
GAZE_TARGETS = ("partner_face", "workspace", "other")


@dataclass
class SessionSources:
    """What one session's table is made of (paths of the stage outputs; absent ones omitted)."""

    session: str
    procedure: str | None
    duration_s: float
    visual: Mapping[str, str | Path] = field(default_factory=dict)  # role -> visual/{device}.parquet
    gaze: Mapping[str, str | Path] = field(default_factory=dict)  # head role -> gaze/{device}.parquet
    head_motion: Mapping[str, str | Path] = field(default_factory=dict)
    prosody: str | Path | None = None
    transcript: str | Path | None = None
    segments: pd.DataFrame | None = None  # tier, t_start, t_end, label


@dataclass
class Assembled:
    """The assembled session: times, label columns and feature groups ``[T, D]``."""

    session: str
    procedure: str | None
    fps: float
    t: np.ndarray
    labels: dict[str, list[str | None]]
    features: dict[str, np.ndarray]
    feature_names: dict[str, list[str]]


def frame_times(duration_s: float, fps: float) -> np.ndarray:
    """``k / fps`` for every frame inside ``[0, duration_s)``."""
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    n = max(0, math.ceil(duration_s * fps - 1e-9))
    return np.arange(n, dtype=np.float64) / fps


def bin_index(times: np.ndarray, grid: np.ndarray, fps: float) -> np.ndarray:
    """Frame index of each time (the centred bin it falls in), -1 outside the grid."""
    index = np.floor(np.asarray(times, dtype=np.float64) * fps + 0.5).astype(np.int64)
    index[(index < 0) | (index >= len(grid))] = -1
    return index


def bin_mean(times: np.ndarray, values: np.ndarray, grid: np.ndarray, fps: float) -> np.ndarray:
    """Mean of ``values`` (``[N]`` or ``[N, K]``, NaN ignored) per centred bin; NaN where empty."""
    values = np.asarray(values, dtype=np.float64)
    flat = values.ndim == 1
    values = values[:, None] if flat else values
    index = bin_index(times, grid, fps)
    sums = np.zeros((len(grid), values.shape[1]))
    counts = np.zeros((len(grid), values.shape[1]))
    valid = (index >= 0)[:, None] & np.isfinite(values)
    rows, cols = np.nonzero(valid)
    np.add.at(sums, (index[rows], cols), values[rows, cols])
    np.add.at(counts, (index[rows], cols), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return mean[:, 0] if flat else mean


def bin_max(times: np.ndarray, values: np.ndarray, grid: np.ndarray, fps: float) -> np.ndarray:
    """Largest finite value per centred bin; NaN where empty."""
    values = np.asarray(values, dtype=np.float64)
    index = bin_index(times, grid, fps)
    out = np.full(len(grid), -np.inf)
    ok = (index >= 0) & np.isfinite(values)
    np.maximum.at(out, index[ok], values[ok])
    out[np.isneginf(out)] = np.nan
    return out


def nearest_rows(times: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """For each grid time, the index of the nearest of the sorted ``times``."""
    times = np.asarray(times, dtype=np.float64)
    right = np.clip(np.searchsorted(times, grid), 0, len(times) - 1)
    left = np.clip(right - 1, 0, len(times) - 1)
    return np.where(np.abs(times[left] - grid) <= np.abs(times[right] - grid), left, right)


def labels_at(segments: pd.DataFrame | None, tier: str, grid: np.ndarray) -> list[str | None]:
    """The label of the ``tier`` segment containing each time; None where there is none."""
    if segments is None or segments.empty:
        return [None] * len(grid)
    return labels_at_times(segments[segments.tier == tier], grid)


def _finite(values: np.ndarray, fill: float = 0.0) -> np.ndarray:
    return np.where(np.isfinite(values), values, fill)


def _log_speed(values: np.ndarray) -> np.ndarray:
    return np.log1p(np.maximum(_finite(values), 0.0))


# --- groups ------------------------------------------------------------------------------------


def visual_group(paths: Mapping[str, str | Path], grid: np.ndarray,
                 roles: Sequence[str] = CAMERA_ROLES) -> tuple[np.ndarray, list[str]]:
    """Nearest-frame embeddings per camera role (zeros + flag 0 where a role has no camera)."""
    tables = {role: read_table(p, "visual") for role, p in paths.items() if role in roles}
    dims = {role: len(t.column("embedding")[0]) if t.num_rows else 0 for role, t in tables.items()}
    known = {d for d in dims.values() if d}
    if len(known) > 1:
        raise InputError(
            f"visual features of different widths {dims}; all cameras must use the same features.model"
        )
    dim = known.pop() if known else 0
    blocks, names = [], []
    for role in roles:
        block = np.zeros((len(grid), dim), dtype=np.float32)
        present = np.zeros((len(grid), 1), dtype=np.float32)
        table = tables.get(role)
        if table is not None and table.num_rows and dim:
            times = table.column("t").to_numpy()
            embeddings = np.asarray(
                table.column("embedding").combine_chunks().flatten().to_numpy(), dtype=np.float32
            ).reshape(-1, dim)
            nearest = nearest_rows(times, grid)
            block = embeddings[nearest]
            # a camera that stopped early (or started late) is absent there, not frozen
            present[:, 0] = np.abs(times[nearest] - grid) <= 1.0
            block = block * present
        blocks += [block, present]
        names += [f"{role}_emb{i}" for i in range(dim)] + [f"{role}_present"]
    return np.concatenate(blocks, axis=1), names


def gaze_group(paths: Mapping[str, str | Path], grid: np.ndarray, fps: float) -> tuple[np.ndarray, list[str]]:
    """Per head role: event and target shares, eye speed, direction, depth, presence."""
    columns, names = [], []
    for role in HEAD_ROLES:
        prefix = f"{role}_gaze_"
        if role in paths:
            frame = read_table(paths[role], "gaze").to_pandas()
            t = frame.t.to_numpy(float)
            shares = np.stack(
                [(frame.event == e).to_numpy(float) for e in GAZE_EVENTS]
                + [(frame.target == g).to_numpy(float) for g in GAZE_TARGETS]
                + [frame.in_frame.to_numpy(float)],
                axis=1,
            )
            share_means = bin_mean(t, shares, grid, fps)
            present = np.isfinite(share_means[:, 0]).astype(float)
            speed = _log_speed(bin_mean(t, frame.velocity_deg_s.to_numpy(float), grid, fps))
            direction = bin_mean(t, frame[["yaw_rad", "pitch_rad"]].to_numpy(float), grid, fps)
            depth = np.log(np.clip(_finite(bin_mean(t, frame.depth_m.to_numpy(float), grid, fps), 1.0), 0.05, 20))
            block = np.column_stack([_finite(share_means), speed, _finite(direction), depth, present])
        else:
            block = np.zeros((len(grid), len(GAZE_EVENTS) + len(GAZE_TARGETS) + 6))
        columns.append(block)
        names += [prefix + n for n in (*GAZE_EVENTS, *GAZE_TARGETS, "in_frame", "log_speed",
                                        "yaw_rad", "pitch_rad", "log_depth", "present")]
    return np.concatenate(columns, axis=1).astype(np.float32), names


def head_motion_group(paths: Mapping[str, str | Path], grid: np.ndarray,
                      fps: float) -> tuple[np.ndarray, list[str]]:
    """Per head role: log head angular speed (mean, max), log image-motion speed, flow direction."""
    columns, names = [], []
    for role in HEAD_ROLES:
        if role in paths:
            frame = read_table(paths[role], "head_motion").to_pandas()
            t = frame.t.to_numpy(float)
            speed = frame.angular_speed_deg_s.to_numpy(float)
            mean_speed = bin_mean(t, speed, grid, fps)
            flow = bin_mean(t, frame[["flow_speed_px_s", "flow_dx_px_s", "flow_dy_px_s"]].to_numpy(float), grid, fps)
            present = np.isfinite(mean_speed).astype(float)
            block = np.column_stack([
                _log_speed(mean_speed), _log_speed(bin_max(t, speed, grid, fps)), _log_speed(flow[:, 0]),
                np.sign(_finite(flow[:, 1])) * _log_speed(np.abs(flow[:, 1])),
                np.sign(_finite(flow[:, 2])) * _log_speed(np.abs(flow[:, 2])), present,
            ])
        else:
            block = np.zeros((len(grid), 6))
        columns.append(block)
        names += [f"{role}_head_{n}" for n in ("log_speed", "log_speed_max", "log_flow", "flow_dx",
                                                "flow_dy", "present")]
    return np.concatenate(columns, axis=1).astype(np.float32), names


def prosody_group(path: str | Path | None, grid: np.ndarray, fps: float) -> tuple[np.ndarray, list[str]]:
    """Per speaking role: speaking and voiced shares, relative F0 (st / 12) and intensity (dB / 10)."""
    frame = read_table(path, "prosody").to_pandas() if path is not None else None
    columns, names = [], []
    for role in HEAD_ROLES:
        block = np.zeros((len(grid), 4))
        rows = frame[frame.role == role] if frame is not None else None
        if rows is not None and len(rows):
            t = rows.t.to_numpy(float)
            f0 = rows.f0_hz.to_numpy(float)
            voiced = rows.voiced.to_numpy(bool) & np.isfinite(f0) & (f0 > 0)
            semitones = np.full(len(rows), np.nan)
            if voiced.any():
                semitones[voiced] = 12 * np.log2(f0[voiced] / np.median(f0[voiced]))
            speaking = rows.speaking.to_numpy(bool)
            intensity = rows.intensity_db.to_numpy(float)
            relative_db = np.full(len(rows), np.nan)
            if speaking.any():
                relative_db[speaking] = intensity[speaking] - np.nanmedian(intensity[speaking])
            means = bin_mean(t, np.column_stack([speaking, voiced, semitones / 12, relative_db / 10]), grid, fps)
            block = _finite(means)
        columns.append(block)
        names += [f"{role}_{n}" for n in ("speaking", "voiced", "f0_rel_oct", "intensity_rel_10db")]
    return np.concatenate(columns, axis=1).astype(np.float32), names


def text_group(
    path: str | Path | None,
    grid: np.ndarray,
    embed: Callable[[list[str]], np.ndarray],
    embedding_dim: int,
) -> tuple[np.ndarray, list[str]]:
    """Speaker, timing, question flag and the current utterance's sentence embedding."""
    frame = read_table(path, "transcript").to_pandas() if path is not None else pd.DataFrame()
    n = len(grid)
    speaker = np.zeros((n, len(SPEAKER_CLASSES)), dtype=np.float32)
    since_end = np.full(n, np.inf)
    since_start = np.zeros(n)
    question = np.zeros(n)
    embedding = np.zeros((n, embedding_dim), dtype=np.float32)
    current = np.full(n, -1)
    if len(frame):
        frame = frame.sort_values("t_start", kind="stable").reset_index(drop=True)
        starts, ends = frame.t_start.to_numpy(float), frame.t_end.to_numpy(float)
        for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
            inside = (grid >= start) & (grid < end)
            current[inside] = i  # later utterances win where two overlap
            after = grid >= end
            since_end[after] = np.minimum(since_end[after], grid[after] - end)
        vectors = embed(frame.text.astype(str).tolist())
        has = current >= 0
        embedding[has] = vectors[current[has]]
        since_start[has] = grid[has] - starts[current[has]]
        question[has] = frame.text.str.strip().str.endswith("?").to_numpy(float)[current[has]]
        roles = frame.role.to_numpy(object)
        for k, name in enumerate(SPEAKER_CLASSES[:3]):
            speaker[has, k] = roles[current[has]] == name
    speaker[current < 0, 3] = 1.0
    since_end[current >= 0] = 0.0
    since_end = np.where(np.isfinite(since_end), since_end, grid)  # before the first utterance
    block = np.column_stack([speaker, np.log1p(since_end), np.log1p(since_start), question, embedding])
    names = ([f"speaker_{s}" for s in SPEAKER_CLASSES]
             + ["log_since_utterance_end_s", "log_since_utterance_start_s", "question"]
             + [f"sentence_emb{i}" for i in range(embedding_dim)])
    return block.astype(np.float32), names


def assemble_session(
    sources: SessionSources,
    fps: float,
    embed: Callable[[list[str]], np.ndarray],
    embedding_dim: int,
    visual_roles: Sequence[str] = CAMERA_ROLES,
) -> Assembled:
    """Assemble one session (see the module docstring)."""
    grid = frame_times(sources.duration_s, fps)
    if not len(grid):
        raise InputError(f"session {sources.session}: duration {sources.duration_s} s gives no frames at {fps} fps")
    features, names = {}, {}
    features["visual"], names["visual"] = visual_group(sources.visual, grid, visual_roles)
    features["gaze"], names["gaze"] = gaze_group(sources.gaze, grid, fps)
    features["head_motion"], names["head_motion"] = head_motion_group(sources.head_motion, grid, fps)
    features["prosody"], names["prosody"] = prosody_group(sources.prosody, grid, fps)
    features["text"], names["text"] = text_group(sources.transcript, grid, embed, embedding_dim)
    labels = {
        name: labels_at(sources.segments, name, grid) if task.takes_part(sources.procedure) else [None] * len(grid)
        for name, task in TASKS.items()
    }
    return Assembled(sources.session, sources.procedure, fps, grid, labels, features, names)

"""What the wearer looks at: the partner's face, the workspace, something else — per gaze row and
per window.

Job: label each row of a device's gaze track (:mod:`egoinstruct.gaze.track`, with I-VT events
from :mod:`egoinstruct.gaze.ivt`) using the faces detected in the same device's video
(:mod:`egoinstruct.gaze.faces`), and summarise the labels in fixed windows.

Per-row label (first rule that applies):

``unknown``
    no gaze (a gap row), the gaze point is outside the camera image, or no face-detection frame
    lies within ``max_frame_distance_s`` of the row (the video does not cover it).
``partner_face``
    the gaze point lies inside the partner's detected face box, grown by ``face_margin`` (a
    fraction of the box size on each side: eye trackers are off by a degree or two, and a glance
    at the hairline is still a look at the person).
``other``
    a saccade (gaze in flight is on nothing), or a gaze depth measured (file or vergence, not the
    default) farther than ``workspace_max_depth_m``: beyond arm's reach, e.g. the wall.
``workspace``
    everything else: a fixation off the face and within reach (or of unknown depth). In a
    face-to-face instruction session this is the table, the parts and the hands.

Windows (:func:`target_windows`): ``[k·window_s, (k+1)·window_s)`` on the session clock over the
track's extent; the share of each label among rows whose label is known, the share of known rows,
and the numbers of fixations and saccades that start in the window.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from egoinstruct.settings.gaze import TargetSettings

TARGETS = ("partner_face", "workspace", "other", "unknown")


def nearest_face_boxes(
    t: np.ndarray, faces: pd.DataFrame, max_distance_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """The partner box ``[N, 4]`` of the face-detection frame nearest to each ``t`` and whether
    such a frame lies within ``max_distance_s`` (boxes are NaN where no face was found)."""
    ft = faces["t"].to_numpy(np.float64)
    boxes = faces[["face_x0", "face_y0", "face_x1", "face_y1"]].to_numpy(np.float64)
    if len(ft) == 0:
        return np.full((len(t), 4), np.nan), np.zeros(len(t), dtype=bool)
    j = np.clip(np.searchsorted(ft, t), 0, len(ft) - 1)
    previous = np.clip(j - 1, 0, len(ft) - 1)
    j = np.where(np.abs(ft[previous] - t) <= np.abs(ft[j] - t), previous, j)
    covered = np.abs(ft[j] - t) <= max_distance_s + 1e-9
    return boxes[j], covered


def on_box(u: np.ndarray, v: np.ndarray, boxes: np.ndarray, margin: float) -> np.ndarray:
    """Whether pixels lie inside ``boxes`` ``[N, 4]`` grown by ``margin`` × their size."""
    mw = (boxes[:, 2] - boxes[:, 0]) * margin
    mh = (boxes[:, 3] - boxes[:, 1]) * margin
    with np.errstate(invalid="ignore"):
        return (
            (u >= boxes[:, 0] - mw) & (u <= boxes[:, 2] + mw)
            & (v >= boxes[:, 1] - mh) & (v <= boxes[:, 3] + mh)
        )


def label_targets(
    track: pd.DataFrame, faces: pd.DataFrame | None, settings: TargetSettings,
    max_frame_distance_s: float | None = None,
) -> np.ndarray:
    """Per-row target labels (object array of :data:`TARGETS`) of a track with columns
    ``t, u_px, v_px, in_frame, depth_m, depth_source, event``. Without ``faces`` (a device with
    no decodable video) every row is ``unknown``. A row takes the face-detection frame nearest to
    it when one lies within ``max_frame_distance_s`` (default: one face-detection frame period)."""
    n = len(track)
    labels = np.full(n, "unknown", dtype=object)
    if faces is None or n == 0:
        return labels
    t = track["t"].to_numpy(np.float64)
    if max_frame_distance_s is not None:
        max_distance = max_frame_distance_s
    else:
        ft = faces["t"].to_numpy(np.float64)
        max_distance = float(np.median(np.diff(ft))) if len(ft) > 1 else 0.5
    boxes, covered = nearest_face_boxes(t, faces, max_distance)
    u, v = track["u_px"].to_numpy(np.float64), track["v_px"].to_numpy(np.float64)
    event = track["event"].to_numpy(object)
    known = covered & track["in_frame"].to_numpy(bool) & (event != "gap")
    face = known & on_box(u, v, boxes, settings.face_margin)
    depth = track["depth_m"].to_numpy(np.float64)
    measured = track["depth_source"].isin(["file", "vergence"]).to_numpy(bool)
    with np.errstate(invalid="ignore"):
        far = measured & (depth > settings.workspace_max_depth_m)
    labels[known] = "workspace"
    labels[known & (far | (event == "saccade"))] = "other"
    labels[face] = "partner_face"
    return labels


def target_windows(track: pd.DataFrame, window_s: float) -> pd.DataFrame:
    """Per-window target shares and event counts (see the module docstring) of a labelled track
    with columns ``t, target, event, fixation_id``."""
    columns = ["t_start", "t_end", "n_rows", "known_fraction", "p_partner_face", "p_workspace",
               "p_other", "n_fixations", "n_saccades"]
    if track.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    t = track["t"].to_numpy(np.float64)
    window = np.floor(t / window_s + 1e-9).astype(np.int64)
    target = track["target"].to_numpy(object)
    event = track["event"].to_numpy(object)
    fixation = track["fixation_id"].to_numpy(np.int64)
    # an event starts where a row differs from the row before it
    starts_fixation = (fixation >= 0) & (np.r_[-1, fixation[:-1]] != fixation)
    is_saccade = event == "saccade"
    starts_saccade = is_saccade & ~np.r_[False, is_saccade[:-1]]
    frame = pd.DataFrame({
        "window": window,
        "known": target != "unknown",
        "face": target == "partner_face",
        "workspace": target == "workspace",
        "other": target == "other",
        "fix": starts_fixation,
        "sac": starts_saccade,
    })
    g = frame.groupby("window", sort=True)
    known = g["known"].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pd.DataFrame({
            "t_start": known.index.to_numpy(np.float64) * window_s,
            "t_end": (known.index.to_numpy(np.float64) + 1) * window_s,
            "n_rows": g.size().to_numpy(np.int32),
            "known_fraction": (known / g.size()).to_numpy(np.float64),
            "p_partner_face": (g["face"].sum() / known).to_numpy(np.float64),
            "p_workspace": (g["workspace"].sum() / known).to_numpy(np.float64),
            "p_other": (g["other"].sum() / known).to_numpy(np.float64),
            "n_fixations": g["fix"].sum().to_numpy(np.int32),
            "n_saccades": g["sac"].sum().to_numpy(np.int32),
        })
    return out.reset_index(drop=True)

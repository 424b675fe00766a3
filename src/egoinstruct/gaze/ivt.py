"""Fixations and saccades by a velocity threshold (I-VT, Salvucci & Goldberg 2000).

Job: label every row of a regularly sampled gaze track ``fixation``, ``saccade``,
``unclassified`` or ``gap`` and number the fixations.

Contract:

* The angular velocity of an interval between two consecutive rows is the angle between their
  gaze directions (``[tan yaw, tan pitch, 1]``, CPF, i.e. eye-in-head) divided by the time
  between them; an interval touching a gap row has no velocity.
* A row is a ``saccade`` when the interval before it **and** the interval after it are faster
  than ``velocity_threshold_deg_s`` (the eye is in flight through the sample). At 30 Hz a 30–50 ms saccade leaves one
  sample in flight at most; labelling both end points (the classic point-to-point rule) would
  cut every fixation by one sample at each end.
* A fast interval always ends a fixation, even when no sample is in flight, so two fixations
  on either side of a quick saccade get different ids.
* Runs of non-saccade rows separated by nothing but slow intervals are candidate fixations; a run
  shorter than ``min_fixation_ms`` (counting each row as one sample period) is
  ``unclassified`` (too short to call), the others are fixations numbered 0, 1, … in time order.
* Rows without gaze (NaN yaw or pitch) are ``gap`` and end fixations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from egoinstruct.settings.gaze import IVTSettings

EVENTS = ("fixation", "saccade", "unclassified", "gap")


@dataclass
class IVTResult:
    velocity_deg_s: np.ndarray  # per row: the faster of its two intervals (NaN without both)
    event: np.ndarray  # object array of EVENTS
    fixation_id: np.ndarray  # int64, -1 where not a fixation

    @property
    def n_fixations(self) -> int:
        return int(self.fixation_id.max() + 1) if len(self.fixation_id) else 0


def directions(yaw: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """Unit gaze directions ``[N, 3]`` in the CPF."""
    d = np.stack([np.tan(yaw), np.tan(pitch), np.ones_like(yaw)], axis=1)
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def interval_velocity_deg_s(t: np.ndarray, yaw: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """Angular speed (deg/s) of the ``N − 1`` intervals between consecutive rows."""
    d = directions(np.asarray(yaw, float), np.asarray(pitch, float))
    cos = np.clip(np.einsum("ij,ij->i", d[:-1], d[1:]), -1.0, 1.0)
    # arccos loses precision for tiny angles; the cross product's norm keeps it.
    sin = np.linalg.norm(np.cross(d[:-1], d[1:]), axis=1)
    angle = np.degrees(np.arctan2(sin, cos))
    dt = np.diff(np.asarray(t, float))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(dt > 0, angle / dt, np.nan)


def classify(
    t: np.ndarray, yaw: np.ndarray, pitch: np.ndarray, settings: IVTSettings
) -> IVTResult:
    """I-VT labels of a track sorted by ``t`` (see the module docstring)."""
    t = np.asarray(t, float)
    yaw, pitch = np.asarray(yaw, float), np.asarray(pitch, float)
    n = len(t)
    event = np.full(n, "gap", dtype=object)
    fixation_id = np.full(n, -1, dtype=np.int64)
    velocity = np.full(n, np.nan)
    if n == 0:
        return IVTResult(velocity, event, fixation_id)
    valid = np.isfinite(yaw) & np.isfinite(pitch)
    v = interval_velocity_deg_s(t, yaw, pitch) if n > 1 else np.empty(0)
    # velocity of the interval before / after each row (NaN at the ends and next to gaps)
    before = np.concatenate([[np.nan], v])
    after = np.concatenate([v, [np.nan]])
    with np.errstate(invalid="ignore"):
        fast_before = before > settings.velocity_threshold_deg_s
        fast_after = after > settings.velocity_threshold_deg_s
    velocity = np.fmax(before, after)
    saccade = valid & fast_before & fast_after
    event[valid & ~saccade] = "fixation"  # provisional; short runs become unclassified below
    event[saccade] = "saccade"

    # Fixation runs: consecutive non-saccade valid rows joined by slow intervals.
    candidate = valid & ~saccade
    joined = np.zeros(n, dtype=bool)  # joined[i]: row i continues the run of row i-1
    if n > 1:
        with np.errstate(invalid="ignore"):
            slow = v <= settings.velocity_threshold_deg_s
        joined[1:] = candidate[1:] & candidate[:-1] & slow
    period = float(np.median(np.diff(t))) if n > 1 else 0.0
    next_id = 0
    i = 0
    while i < n:
        if not candidate[i]:
            i += 1
            continue
        j = i + 1
        while j < n and joined[j]:
            j += 1
        duration_ms = 1000.0 * (t[j - 1] - t[i] + period)
        if duration_ms + 1e-6 >= settings.min_fixation_ms:
            fixation_id[i:j] = next_id
            next_id += 1
        else:
            event[i:j] = "unclassified"
        i = j
    return IVTResult(velocity, event, fixation_id)

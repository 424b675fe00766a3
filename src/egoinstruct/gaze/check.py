"""Check the gaze stage against the demo generator's truth (for ``egoinstruct check-demo``).

:func:`gaze_errors` compares, for every head camera of the demo sessions, the pipeline's
``gaze/{device}.parquet`` with ``truth/frames_{device}.parquet`` at the truth's frame times:

* pixel error: the track's ``u_px, v_px`` interpolated linearly to the frame time, against the
  generator's gaze pixel (frames with a truth sample and track values on both sides);
* target agreement: the track row nearest the frame time (within half a row period) against the
  truth's ``gaze_target``, over frames where both are known — accuracy and Cohen's kappa over the
  three labels, and the same for the binary question "on the partner's face?".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from egoinstruct.tables import read_table, table_metadata


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two label sequences: (p_o − p_e) / (1 − p_e), with p_e from the marginals
    (Cohen 1960). NaN for empty input; 1.0 when both raters use one and the same label."""
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    if len(a) == 0:
        return float("nan")
    observed = float(np.mean(a == b))
    labels = set(a.tolist()) | set(b.tolist())
    expected = float(sum(np.mean(a == label) * np.mean(b == label) for label in labels))
    if expected >= 1.0:
        return 1.0 if observed == 1.0 else 0.0
    return (observed - expected) / (1.0 - expected)


def compare_device(gaze: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    """Pixel error and target agreement of one device (see the module docstring)."""
    t = gaze["t"].to_numpy(np.float64)
    period = float(np.median(np.diff(t))) if len(t) > 1 else 1.0
    ft = truth["t"].to_numpy(np.float64)
    inside = (ft >= t[0]) & (ft <= t[-1]) if len(t) else np.zeros(len(ft), bool)
    right = np.clip(np.searchsorted(t, ft), 1, max(len(t) - 1, 1))
    left = right - 1
    gap = t[right] - t[left]
    w = np.where(gap > 0, (ft - t[left]) / np.where(gap > 0, gap, 1.0), 0.0)
    u = gaze["u_px"].to_numpy(np.float64)
    v = gaze["v_px"].to_numpy(np.float64)
    pu = u[left] * (1 - w) + u[right] * w
    pv = v[left] * (1 - w) + v[right] * w
    error = np.hypot(pu - truth["gaze_u"].to_numpy(np.float64), pv - truth["gaze_v"].to_numpy(np.float64))
    error = error[inside & np.isfinite(error)]
    depth = gaze["depth_m"].to_numpy(np.float64)
    depth_error = np.abs(depth[left] * (1 - w) + depth[right] * w - truth["gaze_depth_m"].to_numpy(np.float64))
    depth_error = depth_error[inside & np.isfinite(depth_error)]

    nearest = np.where(np.abs(t[left] - ft) <= np.abs(t[right] - ft), left, right)
    close = inside & (np.abs(t[nearest] - ft) <= 0.5 * period + 1e-9)
    predicted = gaze["target"].to_numpy(object)[nearest]
    expected = truth["gaze_target"].astype(object).to_numpy()
    known = close & pd.notna(expected) & (predicted != "unknown")
    p, e = predicted[known], expected[known]
    return {
        "n_pixel_frames": int(len(error)),
        "median_px_error": float(np.median(error)) if len(error) else float("nan"),
        "p90_px_error": float(np.percentile(error, 90)) if len(error) else float("nan"),
        "median_depth_error_m": float(np.median(depth_error)) if len(depth_error) else float("nan"),
        "n_target_frames": int(known.sum()),
        "target_accuracy": float(np.mean(p == e)) if len(p) else float("nan"),
        "target_kappa": cohen_kappa(p, e),
        "face_accuracy": float(np.mean((p == "partner_face") == (e == "partner_face"))) if len(p) else float("nan"),
        "face_kappa": cohen_kappa(p == "partner_face", e == "partner_face"),
    }


@dataclass(frozen=True)
class GazeFiles:
    """One head camera's gaze table and the demo generator's truth for it."""

    session: str
    device: str
    gaze: Path  # gaze/{device}.parquet
    truth_frames: Path  # <demo root>/{session}/truth/frames_{device}.parquet


def gaze_errors(files: list[GazeFiles]) -> pd.DataFrame:
    """One row per session and head camera: layout, depth sources, pixel error (median, p90),
    depth error, target accuracy / kappa, partner-face accuracy / kappa."""
    rows = []
    for f in files:
        meta = table_metadata(f.gaze)
        rows.append({
            "session": f.session,
            "device": f.device,
            "layout": meta.get("layout", ""),
            "depth_sources": meta.get("depth_sources", ""),
            **compare_device(read_table(f.gaze, "gaze").to_pandas(), pd.read_parquet(f.truth_frames)),
        })
    return pd.DataFrame(rows)

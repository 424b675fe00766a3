"""The per-session gaze figure of the report: what each wearer looks at, and how their head moves.

One panel per head camera: the gaze target over time as a colour band (partner's face, workspace,
other, unknown), saccades as ticks beneath it, and the head's angular speed (or, without a camera
model, its image-motion speed) as a line on a second axis. Matplotlib's Agg backend, PNG.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

COLOURS = {
    "partner_face": "#3cb44b",
    "workspace": "#4363d8",
    "other": "#f58231",
    "unknown": "#d0d0d0",
}


def _runs(values: np.ndarray) -> list[tuple[int, int, str]]:
    """(start, end, value) of runs of equal values."""
    if len(values) == 0:
        return []
    change = np.flatnonzero(values[1:] != values[:-1]) + 1
    starts = np.r_[0, change]
    ends = np.r_[change, len(values)]
    return [(int(a), int(b), str(values[a])) for a, b in zip(starts, ends, strict=True)]


def plot_gaze_session(
    session: str,
    devices: dict[str, tuple[pd.DataFrame, pd.DataFrame | None]],
    path: str | Path,
) -> None:
    """Write the figure for ``devices``: ``{device: (gaze table, head-motion table or None)}``."""
    n = max(1, len(devices))
    fig, axes = plt.subplots(n, 1, figsize=(12, 1.9 * n + 0.6), squeeze=False, sharex=True)
    for ax, (device, (gaze, motion)) in zip(axes[:, 0], devices.items(), strict=False):
        t = gaze["t"].to_numpy(np.float64)
        period = float(np.median(np.diff(t))) if len(t) > 1 else 1.0
        target = gaze["target"].to_numpy(object)
        for a, b, value in _runs(target):
            ax.axvspan(t[a], t[b - 1] + period, ymin=0.55, ymax=1.0, color=COLOURS.get(value, "k"), lw=0)
        saccades = t[gaze["event"].to_numpy(object) == "saccade"]
        ax.vlines(saccades, 0.42, 0.52, transform=ax.get_xaxis_transform(), color="k", lw=0.5)
        known = target != "unknown"
        share = {k: float(np.mean(target[known] == k)) if known.any() else float("nan")
                 for k in ("partner_face", "workspace", "other")}
        ax.set_yticks([])
        ax.set_title(
            f"{device}: partner's face {share['partner_face']:.0%}, workspace {share['workspace']:.0%}, "
            f"other {share['other']:.0%} of known gaze", fontsize=9, loc="left",
        )
        if motion is not None and len(motion):
            speed = motion["angular_speed_deg_s"].to_numpy(np.float64)
            label = "head °/s"
            if not np.isfinite(speed).any():
                speed, label = motion["flow_speed_px_s"].to_numpy(np.float64), "image px/s"
            ax2 = ax.twinx()
            ax2.plot(motion["t"], speed, color="0.25", lw=0.7)
            top = np.nanpercentile(speed, 99) if np.isfinite(speed).any() else 1.0
            ax2.set_ylim(0, 2.2 * max(top, 1e-6))  # keep the line in the lower half, under the band
            ax2.set_ylabel(label, fontsize=8)
            ax2.tick_params(labelsize=7)
    axes[-1, 0].set_xlabel("session time (s)")
    handles = [Patch(color=c, label=k.replace("_", " ")) for k, c in COLOURS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(f"session {session}: gaze targets (band), saccades (ticks), head motion (line)", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)

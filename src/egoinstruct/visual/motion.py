"""Head motion of a head-worn camera on the session clock, at a fixed rate.

Job: one row per session time ``t = k / fps`` (inside the session and the device's recording)
saying how fast the wearer's head moves. Two sources (``head_motion.method``):

``video``
    Dense optical flow (OpenCV Farnebäck) between consecutive session frames, downscaled to
    ``flow_width`` pixels wide. The *median* flow vector is the global image motion (hands and
    moving parts are a minority of the pixels and do not move it); it is reported in pixels of
    the original video per second (``flow_dx_px_s``, ``flow_dy_px_s``: how the scene moves in the
    image, +x right, +y down — the head turns the other way) and, with the device's camera model,
    as an angular speed: the angle between the rays through the image centre and through the
    centre displaced by the flow. Translation of the head also makes flow; at a table it is small
    next to rotation.
``trajectory``
    Project Aria MPS SLAM output beside the eye-gaze folder (``<mps>/slam/closed_loop_trajectory.csv``
    or ``open_loop_trajectory.csv``; ``trajectory/`` in older deliveries; found by
    :func:`egoinstruct.gaze.mps_folder.find_mps_trajectory`, importable from here): the norm of
    ``angular_velocity_{x,y,z}_device`` (rad/s, IMU-rate) and of the device's linear velocity,
    averaged over each output interval ``(t − 1/fps, t]``. Its ``tracking_timestamp_us`` is the same
    capture clock as the eye gaze and is put on the session clock the same way.

``auto`` uses the trajectory when one is found, else the video.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from egoinstruct.camera import CameraModel
from egoinstruct.clock import DeviceClock, Span
from egoinstruct.errors import InputError
from egoinstruct.frames import MediaSource, session_frames
from egoinstruct.gaze.mps_folder import find_mps_trajectory  # noqa: F401  (callers import it from here)
from egoinstruct.media.reader import MediaReader
from egoinstruct.settings.visual import HeadMotionSettings

log = logging.getLogger(__name__)

METHODS = ("auto", "video", "trajectory")
COLUMNS = ["t", "angular_speed_deg_s", "flow_dx_px_s", "flow_dy_px_s", "flow_speed_px_s", "linear_speed_m_s"]


def global_flow(previous_gray: np.ndarray, gray: np.ndarray) -> tuple[float, float, float]:
    """Median flow ``(dx, dy)`` in pixels of these images and the mean flow magnitude."""
    flow = cv2.calcOpticalFlowFarneback(previous_gray, gray, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    dx, dy = np.median(flow[..., 0]), np.median(flow[..., 1])
    return float(dx), float(dy), float(np.hypot(flow[..., 0], flow[..., 1]).mean())


def flow_angle_deg(camera: CameraModel, dx_px: float, dy_px: float) -> float:
    """Angle (deg) between the rays through the image centre and the centre shifted by (dx, dy)."""
    c = np.array([[(camera.width - 1) / 2.0, (camera.height - 1) / 2.0]])
    rays = camera.unproject(np.vstack([c, c + [dx_px, dy_px]]))
    cos = float(np.clip(rays[0] @ rays[1], -1.0, 1.0))
    return float(np.degrees(np.arccos(cos)))


def video_head_motion(
    video: MediaSource,
    clock: DeviceClock,
    settings: HeadMotionSettings,
    threads: int = 1,
    camera: CameraModel | None = None,
) -> pd.DataFrame:
    """Head motion from the video's global optical flow (see the module docstring). The first row
    (and a row whose previous frame is missing or identical) has NaN motion."""
    cv2.setNumThreads(max(1, threads))
    scale = clock.scale
    rows: list[dict[str, float]] = []
    previous: tuple[int, float, np.ndarray] | None = None
    for frame in session_frames(video, clock, settings.fps, threads):
        image = frame.frame
        width = min(settings.flow_width, image.width)
        size = (width, max(2, int(round(image.height * width / image.width))))
        gray = cv2.cvtColor(frame.image(size), cv2.COLOR_BGR2GRAY)
        # Flow and camera in the recording's pixels (an analysis-stream frame is smaller than its source).
        source_width, source_height = frame.source_size
        factor = source_width / width
        if camera is not None and (camera.width, camera.height) != (source_width, source_height):
            camera = camera.scaled(source_width, source_height)
        row = {"t": frame.t, "angular_speed_deg_s": np.nan, "flow_dx_px_s": np.nan,
               "flow_dy_px_s": np.nan, "flow_speed_px_s": np.nan, "linear_speed_m_s": np.nan}
        if previous is not None and previous[0] == frame.index - 1:
            dt = (frame.source_time_s - previous[1]) * scale
            if dt > 0:
                dx, dy, _ = global_flow(previous[2], gray)
                dx, dy = dx * factor, dy * factor  # back to the video's pixels
                row.update(flow_dx_px_s=dx / dt, flow_dy_px_s=dy / dt, flow_speed_px_s=np.hypot(dx, dy) / dt)
                if camera is not None:
                    row["angular_speed_deg_s"] = flow_angle_deg(camera, dx, dy) / dt
        rows.append(row)
        previous = (frame.index, frame.source_time_s, gray)
    if not rows:
        raise clock.no_overlap(video.name if isinstance(video, MediaReader) else str(video))
    return pd.DataFrame(rows, columns=COLUMNS)


def read_mps_trajectory(path: str | Path) -> pd.DataFrame:
    """``tracking_timestamp_us``, angular speed (rad/s) and linear speed (m/s) of an MPS
    closed- or open-loop trajectory CSV."""
    path = Path(path)
    try:
        header = pd.read_csv(path, nrows=0).columns.str.strip().tolist()
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{path}: cannot read the MPS trajectory CSV ({exc})") from exc
    angular = [f"angular_velocity_{a}_device" for a in "xyz"]
    frame_name = "device" if "device_linear_velocity_x_device" in header else "odometry"
    linear = [f"device_linear_velocity_{a}_{frame_name}" for a in "xyz"]
    missing = [c for c in ["tracking_timestamp_us", *angular] if c not in header]
    if missing:
        raise InputError(
            f"{path}: not an MPS trajectory CSV; missing column(s) {', '.join(missing)} (expected "
            "closed_loop_trajectory.csv or open_loop_trajectory.csv as MPS writes them)"
        )
    usecols = ["tracking_timestamp_us", *angular, *[c for c in linear if c in header]]
    raw = pd.read_csv(path, usecols=usecols, skipinitialspace=True)
    raw = raw.dropna(subset=["tracking_timestamp_us"]).sort_values("tracking_timestamp_us")
    w = raw[angular].to_numpy(np.float64)
    v = raw[linear].to_numpy(np.float64) if all(c in header for c in linear) else np.full((len(raw), 3), np.nan)
    return pd.DataFrame({
        "tracking_timestamp_us": raw["tracking_timestamp_us"].to_numpy(np.int64),
        "angular_speed_rad_s": np.linalg.norm(w, axis=1),
        "linear_speed_m_s": np.linalg.norm(v, axis=1),
    })


def trajectory_head_motion(
    path: str | Path,
    clock: DeviceClock,
    capture_start_us: int,
    span: Span,
    settings: HeadMotionSettings,
) -> pd.DataFrame:
    """Head motion from an MPS trajectory, averaged into the intervals ``(t − 1/fps, t]`` for
    ``t = k / fps`` inside ``span`` (rows without samples are NaN)."""
    samples = read_mps_trajectory(path)
    t = clock.from_capture_us(samples["tracking_timestamp_us"].to_numpy(), capture_start_us)
    k0 = int(np.ceil(span.start * settings.fps - 1e-9))
    k1 = int(np.ceil(span.end * settings.fps - 1e-9))  # exclusive: t in [start, end)
    grid = np.arange(max(k0, 0), max(k1, 0)) / settings.fps
    if len(grid) == 0 or t.size == 0 or t.max() < grid[0] - 1.0 / settings.fps or t.min() > grid[-1]:
        raise InputError(
            f"{path}: the trajectory's samples ({t.min() if t.size else float('nan'):+.2f}…"
            f"{t.max() if t.size else float('nan'):+.2f} s on the session clock) do not overlap the "
            f"device's recording ({span.start:+.2f}…{span.end:+.2f} s); it belongs to another "
            "recording, or the device clock start is wrong"
        )
    # interval index of each sample: sample at time s belongs to the first grid t >= s
    bins = np.searchsorted(grid, t, side="left")
    inside = (bins < len(grid)) & (t > grid[np.clip(bins, 0, len(grid) - 1)] - 1.0 / settings.fps)
    frame = pd.DataFrame({"bin": bins[inside],
                          "w": np.degrees(samples["angular_speed_rad_s"].to_numpy()[inside]),
                          "v": samples["linear_speed_m_s"].to_numpy()[inside]})
    means = frame.groupby("bin").mean()
    out = pd.DataFrame({"t": grid})
    out["angular_speed_deg_s"] = means["w"].reindex(range(len(grid))).to_numpy()
    out["flow_dx_px_s"] = np.nan
    out["flow_dy_px_s"] = np.nan
    out["flow_speed_px_s"] = np.nan
    out["linear_speed_m_s"] = means["v"].reindex(range(len(grid))).to_numpy()
    return out[COLUMNS]


def device_head_motion(
    video: MediaSource,
    clock: DeviceClock,
    *,
    video_duration_s: float,
    settings: HeadMotionSettings,
    trajectory: str | Path | None = None,
    capture_start_us: int | None = None,
    camera: CameraModel | None = None,
    threads: int = 1,
    video_clock: DeviceClock | None = None,
) -> tuple[pd.DataFrame, str]:
    """Head motion of one device by ``settings.method`` and the method used (see the module
    docstring); ``capture_start_us`` (the capture time of the video's first frame) is needed with a
    trajectory. ``clock`` is the device's; ``video_clock`` the one ``video``'s frame times are on
    when that differs (an analysis stream, :mod:`egoinstruct.analysis`, is on the session clock)."""
    if settings.method not in METHODS:
        raise InputError(f"head_motion.method = {settings.method!r}; expected one of {', '.join(METHODS)}")
    if trajectory and settings.method in ("auto", "trajectory"):
        if capture_start_us is None:
            raise InputError(f"{trajectory}: the device clock start is unknown; cannot place the trajectory")
        span = clock.recording(video_duration_s).intersect(clock.session)
        return trajectory_head_motion(trajectory, clock, capture_start_us, span, settings), "trajectory"
    if settings.method == "trajectory":
        raise InputError(
            f"{video}: head_motion.method is trajectory but the device has no MPS SLAM trajectory (slam/ or "
            "trajectory/ closed_loop_trajectory.csv or open_loop_trajectory.csv in its MPS folder, or beside its "
            "eye-gaze folder); give the device its MPS folder (kind mps), or set head_motion.method: auto or video"
        )
    if camera is None:
        log.warning("%s: no camera model; head motion in image pixels only (angular_speed_deg_s is NaN)", video)
    return video_head_motion(video, video_clock or clock, settings, threads, camera), "video"

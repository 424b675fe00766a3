"""A debug GIF of one head camera: its frames with the projected gaze point, the detected partner
face and the gaze target, for people who want to see what the gaze stage did.

Job: for session times ``k / fps`` in ``[start_s, start_s + duration_s)`` draw, on the frame
from :func:`egoinstruct.frames.session_frames`, the partner's face box (the nearest
face-detection frame), the gaze row nearest in time (a circle coloured by target, a cross for a
saccade) and a caption with the time, target and event; write an animated GIF (Pillow).
Written only when the config asks for it (``gaze_debug``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image

from egoinstruct.clock import DeviceClock
from egoinstruct.frames import MediaSource, session_frames
from egoinstruct.io import atomic_path
from egoinstruct.settings.gaze import GazeDebugSettings

# BGR colours per gaze target
COLOURS = {
    "partner_face": (80, 220, 60),
    "workspace": (255, 160, 40),
    "other": (40, 200, 255),
    "unknown": (160, 160, 160),
}


def _nearest(times: np.ndarray, t: float) -> int:
    j = int(np.clip(np.searchsorted(times, t), 0, len(times) - 1))
    if j > 0 and abs(times[j - 1] - t) <= abs(times[j] - t):
        j -= 1
    return j


def annotate(image: np.ndarray, gaze_row: pd.Series | None, face: np.ndarray | None, t: float) -> np.ndarray:
    """``image`` (BGR) with a caption, the face box and the gaze point drawn on a copy (the marks
    last, so a gaze point at the image's edge stays visible over the caption)."""
    out = image.copy()
    scale = max(1, out.shape[1] // 320)
    caption = f"t={t:6.2f}s"
    if gaze_row is not None:
        caption += f" {gaze_row['target']} {gaze_row['event']}"
    h = out.shape[0]
    cv2.rectangle(out, (0, h - 14 * scale), (out.shape[1], h), (0, 0, 0), -1)
    cv2.putText(out, caption, (3, h - 3 * scale), cv2.FONT_HERSHEY_SIMPLEX, 0.38 * scale, (255, 255, 255), 1,
                cv2.LINE_AA)
    if face is not None and np.isfinite(face).all():
        cv2.rectangle(out, (int(face[0]), int(face[1])), (int(face[2]), int(face[3])), (80, 220, 60), scale)
    if gaze_row is not None and np.isfinite(gaze_row["u_px"]) and np.isfinite(gaze_row["v_px"]):
        centre = (int(round(gaze_row["u_px"])), int(round(gaze_row["v_px"])))
        colour = COLOURS.get(str(gaze_row["target"]), (255, 255, 255))
        if gaze_row["event"] == "saccade":
            cv2.drawMarker(out, centre, colour, cv2.MARKER_CROSS, 10 * scale, 2 * scale)
        else:
            cv2.circle(out, centre, 7 * scale, colour, 2 * scale)
    return out


def write_debug_gif(
    video: MediaSource,
    output: str | Path,
    gaze: pd.DataFrame,
    faces: pd.DataFrame | None,
    clock: DeviceClock,
    settings: GazeDebugSettings,
) -> int:
    """Write the GIF (see the module docstring); returns the number of frames."""
    start_s, fps, width = settings.start_s, settings.fps, settings.width
    end = min(clock.session_duration_s, start_s + settings.duration_s)
    gaze_t = gaze["t"].to_numpy(np.float64)
    face_t = faces["t"].to_numpy(np.float64) if faces is not None and len(faces) else np.empty(0)
    images: list[Image.Image] = []
    for frame in session_frames(video, clock, fps, until_s=end):
        if frame.t < start_s:
            continue
        image = frame.image()
        row = gaze.iloc[_nearest(gaze_t, frame.t)] if len(gaze_t) else None
        if row is not None and abs(float(row["t"]) - frame.t) > 1.0 / fps:
            row = None
        box = None
        if len(face_t):
            f = faces.iloc[_nearest(face_t, frame.t)]
            box = f[["face_x0", "face_y0", "face_x1", "face_y1"]].to_numpy(np.float64)
        drawn = annotate(image, row, box, frame.t)
        if drawn.shape[1] != width:
            drawn = cv2.resize(drawn, (width, int(round(drawn.shape[0] * width / drawn.shape[1]))),
                               interpolation=cv2.INTER_AREA)
        images.append(Image.fromarray(cv2.cvtColor(drawn, cv2.COLOR_BGR2RGB)))
    if not images:
        raise ValueError(f"{video if isinstance(video, (str, Path)) else video[0]}: no frame in {start_s:.2f}…{end:.2f} s of the session to draw")
    with atomic_path(output, suffix=".gif") as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=int(round(1000 / fps)), loop=0, optimize=False)
    return len(images)

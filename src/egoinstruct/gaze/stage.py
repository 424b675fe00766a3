"""The gaze stage of one head camera, end to end: what the ``gaze`` rule runs.

Job: MPS eye-gaze CSV + the device's probe, sync and faces → the gaze table (fixed rate, on the
session clock, in the camera's pixels, with I-VT events and targets) and its window summary.

Camera model, first that is available (recorded in the table's metadata as ``camera_source``):

1. ``vrs``: the factory calibration in the device's raw Aria recording (media kind ``aria_vrs``);
2. ``calibration``: the device's ``calibration`` row: a camera-model JSON, or the Aria VRS the
   device's MP4 was exported from (its factory calibration);
3. ``config``: ``gaze.camera`` in the config (one camera model for every head device);
otherwise an :class:`InputError` that lists the ways to give one. For a vrs_to_mp4 export of an
Aria Gen 1 recording the model is turned 90° clockwise as the exporter turned the frames
(:meth:`CameraModel.rotated_cw`); a model whose image size differs from the video's (a
downscaled export) is rescaled to it (:meth:`CameraModel.scaled`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from egoinstruct.camera import CameraModel, camera_from_vrs, read_calibration
from egoinstruct.clock import DeviceClock
from egoinstruct.errors import InputError
from egoinstruct.gaze.ivt import classify
from egoinstruct.gaze.mps import read_mps_eye_gaze
from egoinstruct.gaze.target import label_targets, target_windows
from egoinstruct.gaze.track import build_track
from egoinstruct.media.reader import RecordingFacts
from egoinstruct.settings.gaze import GazeSettings

log = logging.getLogger(__name__)


def device_camera(
    recording: RecordingFacts,
    calibration: str | Path | None = None,
    vrs: str | Path | None = None,
    configured: dict[str, Any] | None = None,
    where: str = "",
    required: bool = True,
) -> tuple[CameraModel | None, str]:
    """The device's camera model and its source (see the module docstring), turned and scaled to
    the device's video. Gaze needs one (``required``: an :class:`InputError` otherwise); head
    motion can do without (None, "")."""
    camera: CameraModel | None = None
    source = ""
    if vrs:
        camera, source = camera_from_vrs(vrs), "vrs"
    if camera is None and calibration:
        camera = read_calibration(calibration)
        source = "calibration"
    if camera is None and configured:
        camera, source = CameraModel.from_dict(configured, "config gaze.camera"), "config"
    if camera is None and not required:
        return None, ""
    if camera is None:
        raise InputError(
            f"{where}: no camera model to project the eye gaze into the video; add a row of kind "
            "calibration for the device to the sample sheet (a camera model JSON, docs/data_contracts.md, or the "
            "Aria recording's VRS file), give the recording as kind aria_vrs, or set gaze.camera"
        )
    if recording.exported and camera.device == "aria_gen1" and camera.rotation_cw == 0:
        # projectaria-tools' vrs_to_mp4 turns Gen 1 frames upright; the factory calibration is the sensor's.
        log.info("%s: the video is a vrs_to_mp4 export of an Aria Gen 1 recording: its frames are the sensor's "
                 "turned 90° clockwise, and so is the camera model", where)
        camera = camera.rotated_cw(90)
    if recording.size is not None and (camera.width, camera.height) != tuple(recording.size):
        log.warning("%s: camera model is %dx%d, the video %dx%d; rescaling the model", where,
                    camera.width, camera.height, *recording.size)
        camera = camera.scaled(*recording.size)
    return camera, source


@dataclass
class GazeResult:
    table: pd.DataFrame  # the GAZE_SCHEMA columns
    windows: pd.DataFrame  # the GAZE_WINDOWS_SCHEMA columns
    metadata: dict[str, str]


def run_gaze(
    gaze_csv: str | Path,
    probe: dict[str, Any],
    clock: DeviceClock,
    camera: CameraModel,
    camera_source: str,
    faces: pd.DataFrame | None,
    settings: GazeSettings,
) -> GazeResult:
    """The gaze table and windows of one device (see the module docstrings of the parts)."""
    gaze = read_mps_eye_gaze(gaze_csv)
    track = build_track(gaze.table, gaze.layout, gaze_csv, camera=camera, recording=RecordingFacts.from_probe(probe),
                        clock=clock, settings=settings)
    table = track.table
    events = classify(table["t"].to_numpy(), table["yaw_rad"].to_numpy(), table["pitch_rad"].to_numpy(), settings.ivt)
    table["velocity_deg_s"] = events.velocity_deg_s
    table["event"] = events.event
    table["fixation_id"] = pd.array(np.where(events.fixation_id >= 0, events.fixation_id, None), dtype="Int64")
    if faces is None:
        log.warning("%s: no face detections for this device (no decodable video); targets are unknown", gaze_csv)
    table["target"] = label_targets(table, faces, settings.target)
    windows = target_windows(
        table.assign(fixation_id=events.fixation_id), settings.target.window_s
    )
    counts = table["target"].value_counts().to_dict()
    log.info("%s: %d rows at %g Hz, %d fixations; targets %s", gaze_csv, len(table),
             settings.rate_hz, events.n_fixations, counts)
    metadata = {
        "source": str(gaze_csv),
        **track.metadata(),
        **clock.metadata(),
        "rate_hz": repr(settings.rate_hz),
        "camera_source": camera_source,
        "camera": json.dumps(camera.to_dict()),
        "settings": json.dumps(settings.to_mapping()),
        "n_fixations": str(events.n_fixations),
    }
    return GazeResult(table, windows, metadata)


def optional_input(value: Any) -> str | None:
    """A Snakemake named input that may be absent (an empty list) as a path or None."""
    if isinstance(value, str):
        return value
    items = list(value or [])
    return str(items[0]) if items else None

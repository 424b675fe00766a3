"""Settings of the gaze stage (``gaze``) and of its debug GIFs (``gaze_debug``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from egoinstruct.settings import Settings


@dataclass(frozen=True)
class IVTSettings(Settings):
    """``gaze.ivt``: fixations and saccades by a velocity threshold (I-VT)."""

    velocity_threshold_deg_s: float
    min_fixation_ms: float


@dataclass(frozen=True)
class TargetSettings(Settings):
    """``gaze.target``: what each gaze sample lands on, and the window summary."""

    window_s: float
    face_margin: float
    workspace_max_depth_m: float


@dataclass(frozen=True)
class FaceSettings(Settings):
    """``gaze.faces``: face detection in the head cameras' frames."""

    detector: str  # haar | yunet
    fps: float
    model: str | None  # yunet only: the ONNX weights
    max_width: int
    min_size_frac: float
    scale_factor: float  # haar only
    min_neighbors: int  # haar only
    score_threshold: float  # yunet only
    redetect_every: int  # frames between full searches while a face is followed (1: every frame)
    lost_every: int  # frames between full searches while no face is in view


@dataclass(frozen=True)
class GazeSettings(Settings):
    """``gaze``: MPS eye gaze on the session clock, in the camera's pixels, with events and targets."""

    rate_hz: float
    mps_eye_gaze: str  # general | personalized: which eye gaze of an MPS folder
    clock_start: str  # auto | tag | first_sample
    default_depth_m: float
    depth_range_m: tuple[float, float]
    max_gap_s: float
    max_bad_timestamp_fraction: float
    camera: dict[str, Any] | None  # a camera model as in a calibration JSON, for every head device
    ivt: IVTSettings
    target: TargetSettings
    faces: FaceSettings


@dataclass(frozen=True)
class GazeDebugSettings(Settings):
    """``gaze_debug``: GIFs of head-camera frames with the gaze point, face box and target."""

    enabled: bool
    sessions: tuple[str, ...]  # empty: the first session of the sample sheet
    start_s: float
    duration_s: float
    fps: float
    width: int

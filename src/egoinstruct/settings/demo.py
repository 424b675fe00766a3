"""Settings of the synthetic demo sessions (``demo``)."""

from __future__ import annotations

from dataclasses import dataclass

from egoinstruct.settings import Settings


@dataclass(frozen=True)
class DemoSettings(Settings):
    """``demo``: whether and how the workflow generates the demo sessions."""

    enabled: bool
    root: str
    seed: int
    duration_s: float
    fps: int
    width: int
    height: int
    audio_rate_hz: int
    gaze_rate_hz: float

"""Settings of the ingest stage: reading media (``media``), the session clock (``sync``) and frames (``frames``)."""

from __future__ import annotations

from dataclasses import dataclass

from egoinstruct.settings import Settings


@dataclass(frozen=True)
class SyncSettings(Settings):
    """``sync``: each device's offset (and drift) to the reference by audio cross-correlation."""

    max_lag_s: float
    band_hz: tuple[float, float]
    coarse_rate_hz: int
    min_confidence_psr: float
    on_low_confidence: str  # error | warn
    drift_window_s: float
    drift_windows: int
    min_duration_for_drift_s: float
    agreement_windows: int  # stretches of a device estimated alone, each must agree with the whole
    agreement_tolerance_s: float  # how far those, and the clocks of device pairs, may disagree


@dataclass(frozen=True)
class FrameSettings(Settings):
    """``frames``: JPEG frames at a fixed rate on the session clock."""

    fps: float
    width: int | None  # None: keep the source size (the other side scales if only one is given)
    height: int | None
    jpeg_quality: int


@dataclass(frozen=True)
class AnalysisSettings(Settings):
    """``analysis``: each device's video decoded once into a session-clock stream that the frame,
    face, head-motion and visual-feature stages read (:mod:`egoinstruct.analysis`)."""

    enabled: bool  # False: each of those stages decodes the recording itself
    fps: float | None  # None: the least common multiple of those stages' rates
    width: int | None  # None: the source's width
    crf: int  # x264 constant rate factor (lower: closer to the source, bigger file)
    preset: str  # x264 preset (speed of the encode)


@dataclass(frozen=True)
class AriaMicChannels(Settings):
    """``media.aria_mic_channels``: the microphone channels a raw Aria recording's device audio
    mixes, per generation (None: all); :data:`egoinstruct.media.vrs.DEFAULT_CHANNELS` says why."""

    gen1: tuple[int, ...] | None
    gen2: tuple[int, ...] | None


@dataclass(frozen=True)
class MediaSettings(Settings):
    """``media``: how device recordings are read (:mod:`egoinstruct.media.reader`)."""

    aria_mic_channels: AriaMicChannels

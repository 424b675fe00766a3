"""One interface for a device's recording, whatever the container: the only module stages use.

A stage that needs a device's video frames, audio, facts or built-in camera calibration opens the
device's media with :func:`open_recording` and never learns which container it reads:

* ``.vrs`` — a raw Project Aria recording, read with projectaria-tools
  (:class:`egoinstruct.media.vrs.VrsReader`): the RGB camera stream, the microphone stream, the
  factory calibration;
* anything else — a file FFmpeg reads, through PyAV (:class:`egoinstruct.media.container.ContainerReader`),
  including projectaria-tools' ``vrs_to_mp4`` exports, whose per-frame device timestamps it reads;
* several files — chapters of one recording (a GoPro splits long recordings), joined in order
  (:class:`egoinstruct.media.chapters.ChapteredReader`).

**Device clock.** Every reader puts frames and audio on the same device clock: seconds since the
first video frame of the recording (for an audio-only file, its first sample). Frame times are
what the container knows best — capture timestamps for VRS and exports, presentation times for
other video — and need not be regular. Where the container tells the device's capture clock at
that first frame (VRS, exports, a ``device_clock_start_us`` tag), :attr:`MediaInfo.device_clock_start_us`
holds it, so eye gaze and head poses (timestamped on that capture clock) land on the frames
without a guess.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from egoinstruct.camera import CameraModel

# Container tag some exporters (and the demo) write: the device capture clock (µs) at the first frame.
CLOCK_TAG = "device_clock_start_us"


class Frame(Protocol):
    """A decoded (or lazily decodable) video frame."""

    @property
    def width(self) -> int: ...

    @property
    def height(self) -> int: ...

    def to_bgr(self) -> np.ndarray:
        """The frame as a BGR uint8 image, ``[height, width, 3]``."""
        ...


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    width: int
    height: int
    fps: float | None  # nominal rate; frame times need not be regular
    n_frames: int | None
    start_s: float  # the container's start time of the stream (informative)
    duration_s: float | None


@dataclass(frozen=True)
class AudioInfo:
    codec: str
    sample_rate_hz: int
    channels: int
    layout: str | None
    start_s: float  # device time of the first sample (negative: audio starts before the first frame)
    duration_s: float | None
    channels_used: tuple[int, ...] | None = None  # which channels the device audio mixes (None: all, by the decoder)


@dataclass
class MediaInfo:
    """What the probe reports about a recording (JSON-able through :meth:`to_dict`)."""

    path: str  # the first file; chapters lists them all
    container: str  # "vrs" | the FFmpeg format name | "chapters"
    duration_s: float | None
    video: VideoInfo | None
    audio: AudioInfo | None
    tags: dict[str, str] = field(default_factory=dict)
    device_clock_start_us: int | None = None  # capture clock at device time 0, when the container says
    clock_source: str | None = None  # where device_clock_start_us came from (vrs | export | tag)
    details: dict[str, Any] = field(default_factory=dict)  # container-specific facts (chapters, export, device)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        details = data.pop("details")
        if data["audio"] is not None and data["audio"]["channels_used"] is not None:
            data["audio"]["channels_used"] = list(data["audio"]["channels_used"])
        return {**data, "format": self.container, **details}


@dataclass
class DecodedAudio:
    """Mono samples on the device clock plus what the original stream looked like."""

    samples: np.ndarray  # float32, [-1, 1], sample 0 at device time 0
    sample_rate_hz: int
    original_rate_hz: int
    original_channels: int
    original_layout: str | None
    original_codec: str
    audio_start_s: float  # where the audio stream began on the device clock (before padding)
    channels_used: tuple[int, ...] | None = None


@dataclass(frozen=True)
class RecordingFacts:
    """What the stages after validation need from a device's probe (``probe/{device}.json``)."""

    duration_s: float  # device seconds from the first frame
    size: tuple[int, int] | None  # video (width, height)
    clock_start_us: int | None  # device capture clock at device time 0, when the recording states it
    clock_source: str | None  # vrs | export | tag
    exported: bool  # a projectaria-tools vrs_to_mp4 export (Gen 1 frames are turned 90° clockwise)
    generation: str | None  # gen1 | gen2 for a raw Aria recording

    @classmethod
    def from_probe(cls, probe: dict[str, Any]) -> RecordingFacts:
        inputs = probe.get("inputs", {})
        kind = probe.get("media_kind") or next((k for k in ("video", "aria_vrs", "audio") if k in inputs), None)
        media = inputs.get(kind, {}) if kind else {}
        video = media.get("video") or {}
        start = media.get("device_clock_start_us")
        return cls(
            duration_s=float(probe["duration_s"]),
            size=(int(video["width"]), int(video["height"])) if video.get("width") else None,
            clock_start_us=int(start) if start is not None else None,
            clock_source=media.get("clock_source"),
            exported="export" in media,
            generation=(media.get("device") or {}).get("generation"),
        )


class MediaReader(ABC):
    """A device's recording (see the module docstring)."""

    paths: tuple[Path, ...]
    where: str  # what error messages start with (the sample-sheet line); may be empty

    @property
    def prefix(self) -> str:
        """``where`` as the start of an error message."""
        return f"{self.where}: " if self.where else ""

    @property
    def name(self) -> str:
        """How messages name the recording."""
        return str(self.paths[0]) if len(self.paths) == 1 else f"{self.paths[0]} (+{len(self.paths) - 1} chapters)"

    @abstractmethod
    def info(self, check_whole: bool = True) -> MediaInfo:
        """Streams, duration and clock facts; with ``check_whole``, also prove that every stream
        decodes to its end (an :class:`~egoinstruct.errors.InputError` otherwise)."""

    @abstractmethod
    def frames(self, threads: int = 1) -> Iterator[tuple[float, Frame]]:
        """(device time, frame) of every video frame, in time order, streamed (memory stays flat)."""

    @abstractmethod
    def audio(self, sample_rate_hz: int) -> DecodedAudio | None:
        """The audio mixed to mono at ``sample_rate_hz`` with sample 0 at device time 0 (padded
        with silence or trimmed); None without an audio stream."""

    def camera(self) -> CameraModel | None:
        """The camera calibration the recording carries (Aria VRS), else None."""
        return None


def open_recording(
    media: str | Path | Sequence[str | Path],
    where: str = "",
    vrs_channels: Mapping[str, Sequence[int] | None] | None = None,
    export_log: str | Path | None = None,
) -> MediaReader:
    """The reader for a device's media: one path, or several chapters joined in order.

    ``where`` prefixes error messages (the sample-sheet line); ``vrs_channels`` says which
    microphone channels an Aria recording's device audio mixes, per generation
    (:data:`egoinstruct.media.vrs.DEFAULT_CHANNELS`); ``export_log`` is the log folder of a
    ``vrs_to_mp4`` export (:mod:`egoinstruct.media.container`).
    """
    paths = [Path(media)] if isinstance(media, (str, Path)) else [Path(p) for p in media]
    if not paths:
        raise ValueError("open_recording needs at least one path")
    if len(paths) > 1:
        from egoinstruct.media.chapters import ChapteredReader

        return ChapteredReader(paths, where=where, vrs_channels=vrs_channels, export_log=export_log)
    if is_vrs(paths[0]):
        from egoinstruct.media.vrs import VrsReader

        return VrsReader(paths[0], where=where, channels=vrs_channels)
    from egoinstruct.media.container import ContainerReader

    return ContainerReader(paths[0], where=where, export_log=export_log)


def input_paths(value: str | Sequence[str] | None) -> list[str]:
    """A rule's named input as a list of paths (Snakemake gives one file as a string, several,
    or an input function's list, as a list)."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


# The first bytes of every VRS file (its file-format magic); lets a renamed VRS be recognised.
VRS_MAGIC = b"VisionRe"


def is_vrs(path: str | Path) -> bool:
    """True for a VRS file: by its ``.vrs`` suffix, or by the signature VRS writes first."""
    path = Path(path)
    if path.suffix.lower() == ".vrs":
        return True
    try:
        with path.open("rb") as handle:
            return handle.read(len(VRS_MAGIC)) == VRS_MAGIC
    except OSError:
        return False

"""Files FFmpeg reads (MP4, MOV, MKV, WAV, …) through PyAV, including ``vrs_to_mp4`` exports.

Device clock: device time 0 is the first video frame (for audio-only files, the first audio
sample); audio that starts before or after it is trimmed or padded by :meth:`ContainerReader.audio`.
Streams other than the first video and audio stream (a GoPro's timecode and telemetry tracks)
are ignored.

**vrs_to_mp4 exports.** projectaria-tools' exporter writes the device capture time (ns) of the
Aria frame behind every MP4 frame into the container's ``description`` tag (a list of integers,
one per MP4 frame), and, when given ``--log_folder``, ``vrs_to_mp4_log.json`` and
``mp4_to_vrs_time_ns.csv`` there. For such a file:

* frame k's device time is its capture time, ``(tag[k] − tag[0]) / 1e9`` — exactly the clock MPS
  eye gaze is timestamped on (``device_clock_start_us = tag[0] / 1000``, ``clock_source: export``).
  A frame the exporter repeated (the recording dropped one) keeps its single capture time;
* the MP4 timeline starts at the exporter's ``first_video_timestamp_ns`` (with audio, the first
  audio record), which sets where the audio lies on that clock. It is read from the log folder
  when given (``export_log``); without it, it is estimated from the tag as the median of
  ``tag[k] − pts[k]``, right to within half a frame period (the probe says which, and the bound);
* the exporter turns Aria Gen 1 frames 90° clockwise; the gaze stage turns the camera model to
  match (:meth:`egoinstruct.camera.CameraModel.rotated_cw`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import av
import numpy as np

from egoinstruct.errors import InputError
from egoinstruct.media.probe import check_file, check_streams_whole, open_media
from egoinstruct.media.reader import (
    CLOCK_TAG,
    AudioInfo,
    DecodedAudio,
    MediaInfo,
    MediaReader,
    VideoInfo,
)

log = logging.getLogger(__name__)

EXPORT_TAG = "description"
EXPORT_LOG_JSON = "vrs_to_mp4_log.json"


@dataclass(frozen=True)
class AvFrame:
    """A frame decoded by PyAV."""

    frame: av.VideoFrame

    @property
    def width(self) -> int:
        return int(self.frame.width)

    @property
    def height(self) -> int:
        return int(self.frame.height)

    def to_bgr(self) -> np.ndarray:
        return self.frame.to_ndarray(format="bgr24")


@dataclass(frozen=True)
class ExportTiming:
    """The device clock of a vrs_to_mp4 export (see the module docstring)."""

    frame_ns: np.ndarray  # capture time of the Aria frame behind each MP4 frame
    timeline_start_ns: int | None  # device time of MP4 t = 0, from the log folder
    log_folder: str | None

    def to_dict(self, estimated_start_ns: int | None, period_s: float | None) -> dict[str, Any]:
        exact = self.timeline_start_ns is not None
        return {
            "exporter": "projectaria-tools vrs_to_mp4",
            "n_tagged_frames": int(len(self.frame_ns)),
            "n_repeated_frames": int((np.diff(self.frame_ns) == 0).sum()) if len(self.frame_ns) > 1 else 0,
            "first_frame_device_ns": int(self.frame_ns[0]),
            "timeline_start_ns": self.timeline_start_ns if exact else estimated_start_ns,
            "timeline_start_source": f"log folder {self.log_folder}" if exact else "estimated from the description tag",
            "audio_clock_error_bound_s": 0.0 if exact else (0.5 * period_s if period_s else None),
        }


def parse_export_tag(value: str | None) -> np.ndarray | None:
    """The per-frame device timestamps (ns) of a ``description`` tag written by vrs_to_mp4, or
    None when the tag is not such a list."""
    if not value:
        return None
    text = value.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return None
    try:
        stamps = np.array([int(v) for v in text[1:-1].split(",") if v.strip()], dtype=np.int64)
    except ValueError:
        return None
    if len(stamps) == 0 or (np.diff(stamps) < 0).any():
        return None
    return stamps


def read_export_log(folder: str | Path) -> int:
    """``first_video_timestamp_ns`` from a vrs_to_mp4 log folder: the device time of MP4 t = 0."""
    path = Path(folder) / EXPORT_LOG_JSON
    try:
        return int(json.loads(path.read_text())["first_video_timestamp_ns"])
    except FileNotFoundError as exc:
        raise InputError(
            f"{folder}: no {EXPORT_LOG_JSON} in it; give the folder passed to vrs_to_mp4 as --log_folder, "
            "or leave the export_log row out (the audio is then placed to within half a frame)"
        ) from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"{path}: not a vrs_to_mp4 log (need a JSON object with first_video_timestamp_ns): {exc}"
        ) from exc


class ContainerReader(MediaReader):
    """A media file FFmpeg reads (see the module docstring)."""

    def __init__(self, path: str | Path, where: str = "", export_log: str | Path | None = None) -> None:
        self.path = Path(path)
        self.paths = (self.path,)
        self.where = where
        self.export_log = Path(export_log) if export_log else None

    @cached_property
    def _header(self) -> dict[str, Any]:
        """Container and stream facts from the header (nothing decoded but the first video frame)."""
        check_file(self.path, self.where)
        with open_media(self.path, self.where) as container:
            facts: dict[str, Any] = {
                "format": container.format.name,
                "duration_s": container.duration / 1e6 if container.duration else None,
                "tags": dict(container.metadata),
                "video": None,
                "audio": None,
            }
            if container.streams.video:
                stream = container.streams.video[0]
                rate = stream.average_rate or stream.guessed_rate
                facts["video"] = {
                    "codec": stream.codec_context.name,
                    "width": stream.codec_context.width,
                    "height": stream.codec_context.height,
                    "fps": float(rate) if rate else None,
                    "n_frames": stream.frames or None,
                    "start_s": float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0,
                    "duration_s": float(stream.duration * stream.time_base) if stream.duration else None,
                }
                try:
                    next(container.decode(video=0))
                except (StopIteration, av.error.FFmpegError) as exc:
                    raise InputError(
                        f"{self.prefix}{self.path}: the video stream cannot be decoded ({exc or 'no frames'}); "
                        "the file is corrupt or truncated — re-export it"
                    ) from exc
            if container.streams.audio:
                stream = container.streams.audio[0]
                ctx = stream.codec_context
                facts["audio"] = {
                    "codec": ctx.name,
                    "sample_rate_hz": ctx.sample_rate,
                    "channels": ctx.channels,
                    "layout": ctx.layout.name if ctx.layout else None,
                    "start_s": float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0,
                    "duration_s": float(stream.duration * stream.time_base) if stream.duration else None,
                }
        if facts["video"] is None and facts["audio"] is None:
            raise InputError(f"{self.prefix}{self.path}: has neither a video nor an audio stream")
        return facts

    @cached_property
    def export(self) -> ExportTiming | None:
        """The vrs_to_mp4 timing, when the file is such an export."""
        stamps = parse_export_tag(self._header["tags"].get(EXPORT_TAG))
        if stamps is None or self._header["video"] is None:
            if self.export_log is not None:
                raise InputError(
                    f"{self.prefix}{self.path}: an export_log is given for it, but "
                    f"it has no vrs_to_mp4 frame timestamps (container tag {EXPORT_TAG!r}); give the MP4 that "
                    "vrs_to_mp4 wrote, or drop the export_log row"
                )
            return None
        start = read_export_log(self.export_log) if self.export_log is not None else None
        return ExportTiming(stamps, start, str(self.export_log) if self.export_log else None)

    def _video_times(self, threads: int) -> Iterator[tuple[float, av.VideoFrame]]:
        """(presentation time, frame) of every decoded video frame."""
        with open_media(self.path, self.where) as container:
            if not container.streams.video:
                raise InputError(f"{self.path}: has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            stream.codec_context.thread_count = max(1, threads)
            try:
                for frame in container.decode(stream):
                    if frame.time is not None:
                        yield float(frame.time), frame
            except av.error.FFmpegError as exc:
                raise InputError(
                    f"{self.path}: video cannot be decoded past some point ({exc}); the file is corrupt or truncated"
                ) from exc

    @cached_property
    def _timeline_start_ns(self) -> int | None:
        """Device time (ns) of MP4 t = 0 for an export: from the log, else estimated from the tag."""
        export = self.export
        if export is None:
            return None
        if export.timeline_start_ns is not None:
            return export.timeline_start_ns
        with open_media(self.path, self.where) as container:
            stream = container.streams.video[0]
            pts = [float(p.pts * stream.time_base) for p in container.demux(stream) if p.pts is not None]
        pts_ns = np.round(np.sort(pts)[: len(export.frame_ns)] * 1e9).astype(np.int64)
        n = min(len(pts_ns), len(export.frame_ns))
        return int(np.median(export.frame_ns[:n] - pts_ns[:n])) if n else int(export.frame_ns[0])

    def info(self, check_whole: bool = True) -> MediaInfo:
        facts = self._header
        video = VideoInfo(**facts["video"]) if facts["video"] else None
        audio_facts = facts["audio"]
        export = self.export
        details: dict[str, Any] = {}
        clock_start_us: int | None = None
        clock_source: str | None = None
        # Device time 0: the first video frame, or for an audio-only file its first audio sample.
        zero = facts["video"] or audio_facts
        zero_s = float(zero["start_s"]) if zero else 0.0
        audio = None
        if audio_facts:
            audio = AudioInfo(**{**audio_facts, "start_s": float(audio_facts["start_s"]) - zero_s})
        if export is not None:
            clock_start_us = int(export.frame_ns[0]) // 1000
            clock_source = "export"
            period = 1.0 / video.fps if video and video.fps else None
            details["export"] = export.to_dict(self._timeline_start_ns, period)
            if audio is not None:
                shift = (self._timeline_start_ns - int(export.frame_ns[0])) / 1e9
                audio = AudioInfo(**{**audio.__dict__, "start_s": float(audio_facts["start_s"]) + shift})
            if len(export.frame_ns) > 1 and video is not None:
                span = float((export.frame_ns[-1] - export.frame_ns[0]) / 1e9) + (period or 0.0)
                video = VideoInfo(**{**video.__dict__, "duration_s": span})
        elif facts["tags"].get(CLOCK_TAG) is not None:
            try:
                clock_start_us, clock_source = int(str(facts["tags"][CLOCK_TAG]).strip()), "tag"
            except ValueError as exc:
                raise InputError(
                    f"{self.prefix}{self.path}: container tag {CLOCK_TAG}="
                    f"{facts['tags'][CLOCK_TAG]!r} is not an integer (µs of the device capture clock at the first "
                    "frame); fix or remove the tag"
                ) from exc
        if check_whole:
            check_streams_whole(self.path, facts, self.where)
        ends = [s for s in ((video.duration_s if video else None),
                            (audio.start_s + audio.duration_s) if audio and audio.duration_s else None) if s]
        duration = max(ends) if ends else facts["duration_s"]
        return MediaInfo(path=str(self.path), container=facts["format"], duration_s=duration, video=video,
                         audio=audio, tags={k: str(v) for k, v in facts["tags"].items() if k != EXPORT_TAG},
                         device_clock_start_us=clock_start_us, clock_source=clock_source, details=details)

    def frames(self, threads: int = 1) -> Iterator[tuple[float, AvFrame]]:
        export = self.export
        first: float | None = None
        previous_ns: int | None = None
        for k, (time, frame) in enumerate(self._video_times(threads)):
            if export is None:
                if first is None:
                    first = time
                yield time - first, AvFrame(frame)
                continue
            if k >= len(export.frame_ns):
                log.warning("%s: more MP4 frames than vrs_to_mp4 timestamps (%d); the rest are skipped",
                            self.path, len(export.frame_ns))
                return
            stamp = int(export.frame_ns[k])
            if stamp == previous_ns:
                continue  # the exporter repeated the previous Aria frame
            previous_ns = stamp
            yield (stamp - int(export.frame_ns[0])) / 1e9, AvFrame(frame)

    def audio(self, sample_rate_hz: int) -> DecodedAudio | None:
        facts = self._header
        if facts["audio"] is None:
            return None
        info = self.info(check_whole=False)
        assert info.audio is not None
        with open_media(self.path, self.where) as container:
            stream = container.streams.audio[0]
            ctx = stream.codec_context
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate_hz)
            chunks: list[np.ndarray] = []
            first_time: float | None = None
            try:
                for frame in container.decode(stream):
                    if first_time is None and frame.time is not None:
                        first_time = float(frame.time)
                    for out in resampler.resample(frame):
                        chunks.append(out.to_ndarray().reshape(-1))
                for out in resampler.resample(None):
                    chunks.append(out.to_ndarray().reshape(-1))
            except av.error.FFmpegError as exc:
                raise InputError(
                    f"{self.path}: audio stream cannot be decoded ({exc}); the file is corrupt or truncated"
                ) from exc
        samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
        # Device time of the first decoded sample: the stream's stated start, moved to where the
        # first frame actually decoded (encoder priming).
        audio_start = info.audio.start_s + ((first_time - float(facts["audio"]["start_s"])) if first_time is not None else 0.0)
        return DecodedAudio(
            samples=place_at_zero(samples, audio_start, sample_rate_hz),
            sample_rate_hz=sample_rate_hz,
            original_rate_hz=ctx.sample_rate,
            original_channels=ctx.channels,
            original_layout=ctx.layout.name if ctx.layout else None,
            original_codec=ctx.name,
            audio_start_s=audio_start,
        )


def place_at_zero(samples: np.ndarray, start_s: float, sample_rate_hz: int) -> np.ndarray:
    """Samples whose first lies at ``start_s``, padded with silence or trimmed so that sample 0 is
    device time 0."""
    shift = int(round(start_s * sample_rate_hz))
    if shift > 0:
        return np.concatenate([np.zeros(shift, np.float32), samples])
    return samples[-shift:] if shift < 0 else samples

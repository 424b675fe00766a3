"""Chapters of one recording, joined in order onto one device clock.

A GoPro splits a long recording into chapter files of at most 4 GB (HERO5 and later:
``GH01xxxx.MP4``, ``GH02xxxx.MP4``, … — ``GX`` for HEVC — where ``xxxx`` is the recording number
and the two digits the chapter; older cameras: ``GOPRxxxx.MP4`` then ``GP01xxxx.MP4``,
``GP02xxxx.MP4``, …). The camera cuts without losing a frame, so the chapters are joined end to
end: chapter i's device time 0 lies where chapter i−1 ends (the sum of the earlier chapters' video
durations; audio-only chapters: audio durations). Nothing is re-encoded or buffered: frames are
streamed chapter after chapter, and each chapter's decoded audio is placed at its start.

**Checks.** The files are joined in the order given; if every name is a GoPro chapter name, they
must be one recording's chapters in increasing order with none missing, since a misordered or
missing chapter would shift every later time by minutes without a trace. The chapters must agree
on codec, frame size, frame rate and audio format (a different camera or setting means a
different recording).

**Gaps.** The join assumes contiguity, and :meth:`ChapteredReader.info` measures how far that
holds (``details["gaps_s"]``: start of chapter i+1 minus end of chapter i):

* from the ``timecode`` tag of each chapter's video stream (GoPro writes the time of day of the
  first frame, e.g. ``19:26:48:04``), which is frame-accurate;
* else from the container's ``creation_time`` (1 s resolution). What it marks is not the start
  of the recording: karma.mp4 (a real HERO5 Black file) has timecode 19:26:48:04 and 12.08 s of
  video, so its first frame is at 19:26:48.1 and its last ends at 19:27:00.2, but its
  creation_time says 19:27:57 — 57 s after the video ended. Only differences between chapters
  are used, assuming every chapter's stamp marks the same moment of that chapter (its closing,
  late by a constant): gap = creation_time[i+1] − duration[i+1] − creation_time[i]. Recent
  GoPros write the same creation_time into every chapter of a recording; then nothing is
  measured;
* else nothing (``None``).

A gap over :data:`GAP_WARN_S` adds a warning: the files may not be consecutive chapters of one
recording.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from egoinstruct.camera import CameraModel
from egoinstruct.errors import InputError
from egoinstruct.media.probe import open_media
from egoinstruct.media.reader import (
    AudioInfo,
    DecodedAudio,
    Frame,
    MediaInfo,
    MediaReader,
    VideoInfo,
    is_vrs,
    open_recording,
)

log = logging.getLogger(__name__)

# A measured gap beyond this (s, either sign) means the files may not be one recording's chapters.
GAP_WARN_S = 1.0
# Frame rates further apart than this (relative) are different camera settings.
FPS_TOLERANCE = 0.01

# GoPro chapter names: HERO5+ ``G[HX]CCNNNN.MP4``, older ``GOPRNNNN.MP4`` (chapter 0) and
# ``GPCCNNNN.MP4`` (C: chapter, N: recording number). Case-insensitive: copies get lowercased.
_GOPRO_NEW = re.compile(r"^(?:GH|GX|GP)(\d{2})(\d{4})\.MP4$", re.IGNORECASE)
_GOPRO_FIRST = re.compile(r"^GOPR(\d{4})\.MP4$", re.IGNORECASE)
_TIMECODE = re.compile(r"^(\d{1,2})[:;.](\d{2})[:;.](\d{2})([:;.])(\d{2,3})$")


def gopro_chapter(name: str | Path) -> tuple[int, int] | None:
    """``(recording number, chapter)`` of a GoPro chapter file name, or None for other names.

    ``GH01xxxx.MP4``/``GX01xxxx.MP4``/``GP01xxxx.MP4`` are chapter 1 of recording ``xxxx``;
    ``GOPRxxxx.MP4`` (older cameras' first file, followed by ``GP01xxxx``) is chapter 0.
    """
    base = Path(name).name
    if match := _GOPRO_FIRST.match(base):
        return int(match.group(1)), 0
    if match := _GOPRO_NEW.match(base):
        return int(match.group(2)), int(match.group(1))
    return None


def timecode_frames(timecode: str, fps: float) -> int:
    """Frame number since 00:00:00:00 of a SMPTE timecode at nominal rate ``fps``.

    ``HH:MM:SS:FF`` counts round(fps) frames per timecode second (non-drop-frame); a ``;`` (or
    ``.``) before the frames marks drop-frame, which skips frame numbers 0–1 (at 60 fps 0–3) of
    every minute not divisible by ten so that 29.97 fps timecode keeps up with the wall clock.
    A malformed timecode is a ValueError.
    """
    match = _TIMECODE.match(timecode.strip())
    if not match or fps <= 0:
        raise ValueError(f"not a timecode HH:MM:SS:FF (or ;FF): {timecode!r}")
    hours, minutes, seconds, separator, frames = match.groups()
    h, m, s, f = int(hours), int(minutes), int(seconds), int(frames)
    nominal = round(fps)
    if m >= 60 or s >= 60 or f >= nominal:
        raise ValueError(f"timecode {timecode!r} out of range at {nominal} frames per second")
    count = ((h * 60 + m) * 60 + s) * nominal + f
    if separator in ";.":
        if nominal % 30:
            raise ValueError(f"drop-frame timecode {timecode!r} at {fps:g} fps (only 29.97/59.94 drop frames)")
        dropped = nominal // 15  # per minute: 2 at 29.97 fps, 4 at 59.94 fps
        total_minutes = h * 60 + m
        if s == 0 and f < dropped and total_minutes % 10:
            raise ValueError(f"drop-frame timecode {timecode!r} names a skipped frame number")
        count -= dropped * (total_minutes - total_minutes // 10)
    return count


def timecode_seconds(timecode: str, fps: float) -> float:
    """Real seconds since 00:00:00:00 of a timecode: its frame count over the true rate
    (29.97 fps non-drop timecode runs 0.1 % slower than the wall clock; the frames count)."""
    return timecode_frames(timecode, fps) / fps


def _timecode_day_s(timecode: str, fps: float) -> float:
    """Length (real seconds) of the 24 h timecode day, for gaps across midnight."""
    drop = ";" in timecode or "." in timecode
    return timecode_seconds("24:00:00;00" if drop else "24:00:00:00", fps)


def _creation_time(value: str | None) -> datetime | None:
    """The container's ``creation_time`` tag as a datetime (None: absent or unreadable)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def _stream_timecode(path: Path, where: str) -> str | None:
    """The ``timecode`` tag of the video stream (where FFmpeg puts a ``tmcd`` track's start), else
    of any stream or the container; None for VRS files and untagged media."""
    if is_vrs(path):
        return None
    with open_media(path, where) as container:
        streams = list(container.streams.video) + [s for s in container.streams if s.type != "video"]
        for stream in streams:
            if value := stream.metadata.get("timecode"):
                return str(value)
        value = container.metadata.get("timecode")
    return str(value) if value else None


class ChapteredReader(MediaReader):
    """Several files that are chapters of one recording, in order (see the module docstring)."""

    def __init__(
        self,
        paths: Sequence[str | Path],
        where: str = "",
        vrs_channels: Mapping[str, Sequence[int] | None] | None = None,
        export_log: str | Path | None = None,
    ) -> None:
        self.paths = tuple(Path(p) for p in paths)
        self.where = where
        if not self.paths:
            raise ValueError("ChapteredReader needs at least one chapter")
        if export_log is not None:
            raise InputError(
                f"{self.prefix}{self.name}: an export_log is given for several files, but only a single "
                "vrs_to_mp4 export has one; drop the export_log row, or list only the exported MP4"
            )
        check_chapter_order(self.paths, where)
        self.chapters: tuple[MediaReader, ...] = tuple(
            open_recording(path, where=where, vrs_channels=vrs_channels) for path in self.paths
        )

    @cached_property
    def _infos(self) -> tuple[MediaInfo, ...]:
        """Each chapter's header facts, checked to be one camera's recording."""
        infos = tuple(chapter.info(check_whole=False) for chapter in self.chapters)
        self._check_consistent(infos)
        return infos

    @cached_property
    def starts(self) -> tuple[float, ...]:
        """Device time (s) where each chapter's time 0 lies: the sum of the earlier durations."""
        starts, total = [], 0.0
        for path, info in zip(self.paths, self._infos, strict=True):
            starts.append(total)
            total += self._span(path, info)
        return tuple(starts)

    def _span(self, path: Path, info: MediaInfo) -> float:
        """How long a chapter lasts on the device clock: its video (audio-only: its audio)."""
        if info.video is not None:
            video = info.video
            if video.duration_s:
                return float(video.duration_s)
            if video.n_frames and video.fps:
                return video.n_frames / video.fps
        elif info.audio is not None and info.audio.duration_s:
            return float(info.audio.duration_s)
        if info.duration_s:
            return float(info.duration_s)
        raise InputError(
            f"{self.prefix}{path}: its duration is unknown, so the next chapter cannot be placed after "
            "it; remux it (ffmpeg -i IN -c copy OUT.MP4) so that the container states its length"
        )

    def _check_consistent(self, infos: Sequence[MediaInfo]) -> None:
        """Every chapter has the first one's streams and formats; else an InputError naming the
        chapter and what differs (different settings mean a different recording)."""
        first = infos[0]
        for path, info in zip(self.paths[1:], infos[1:], strict=True):
            differences: list[str] = []
            if (first.video is None) != (info.video is None):
                differences.append("video stream " + ("missing" if info.video is None else "not in the first"))
            elif first.video is not None and info.video is not None:
                a, b = first.video, info.video
                if a.codec != b.codec:
                    differences.append(f"video codec {b.codec} vs {a.codec}")
                if (a.width, a.height) != (b.width, b.height):
                    differences.append(f"frame size {b.width}x{b.height} vs {a.width}x{a.height}")
                if a.fps and b.fps and abs(a.fps - b.fps) > FPS_TOLERANCE * a.fps:
                    differences.append(f"frame rate {b.fps:.3f} vs {a.fps:.3f} fps")
            if (first.audio is None) != (info.audio is None):
                differences.append("audio stream " + ("missing" if info.audio is None else "not in the first"))
            elif first.audio is not None and info.audio is not None:
                a_audio, b_audio = first.audio, info.audio
                if a_audio.sample_rate_hz != b_audio.sample_rate_hz:
                    differences.append(f"audio rate {b_audio.sample_rate_hz} vs {a_audio.sample_rate_hz} Hz")
                if a_audio.channels != b_audio.channels:
                    differences.append(f"audio channels {b_audio.channels} vs {a_audio.channels}")
            if differences:
                raise InputError(
                    f"{self.prefix}{path} does not match the first chapter {self.paths[0]} ("
                    + "; ".join(differences)
                    + "): chapters of one recording share the camera's settings, so these files are "
                    "different recordings; list each recording as its own media row"
                )

    def info(self, check_whole: bool = True) -> MediaInfo:
        infos = self._infos
        if check_whole:
            for chapter in self.chapters:
                chapter.info(check_whole=True)
        starts = self.starts
        spans = [self._span(path, info) for path, info in zip(self.paths, infos, strict=True)]
        first, last = infos[0], infos[-1]
        total = starts[-1] + spans[-1]

        video = None
        if first.video is not None:
            counts = [i.video.n_frames if i.video else None for i in infos]
            n_frames = None if any(c is None for c in counts) else sum(c or 0 for c in counts)
            video = VideoInfo(
                codec=first.video.codec, width=first.video.width, height=first.video.height,
                fps=first.video.fps, n_frames=n_frames,
                start_s=first.video.start_s, duration_s=total,
            )
        audio = None
        if first.audio is not None and last.audio is not None:
            end = (starts[-1] + last.audio.start_s + last.audio.duration_s) if last.audio.duration_s else None
            audio = AudioInfo(
                codec=first.audio.codec, sample_rate_hz=first.audio.sample_rate_hz,
                channels=first.audio.channels, layout=first.audio.layout, start_s=first.audio.start_s,
                duration_s=(end - first.audio.start_s) if end is not None else None,
                channels_used=first.audio.channels_used,
            )
        # The last chapter's audio may outlast its video; earlier overhangs are covered by the next.
        duration = starts[-1] + last.duration_s if last.duration_s else total

        timecodes = [_stream_timecode(path, self.where) for path in self.paths]
        gaps, source, warnings = self._gaps(infos, spans, timecodes)
        details: dict[str, Any] = {
            **first.details,
            "chapters": [
                {"path": str(path), "start_s": start, "duration_s": span, "timecode": timecode,
                 "creation_time": info.tags.get("creation_time")}
                for path, start, span, timecode, info in zip(
                    self.paths, starts, spans, timecodes, infos, strict=True
                )
            ],
            "gaps_s": gaps,
            "gap_source": source,
            "warnings": warnings,
        }
        for warning in warnings:
            log.warning("%s%s", self.prefix, warning)
        return MediaInfo(
            path=str(self.paths[0]), container="chapters", duration_s=duration, video=video, audio=audio,
            tags=dict(first.tags), device_clock_start_us=first.device_clock_start_us,
            clock_source=first.clock_source, details=details,
        )

    def _gaps(
        self, infos: Sequence[MediaInfo], spans: Sequence[float], timecodes: Sequence[str | None]
    ) -> tuple[list[float | None], str | None, list[str]]:
        """Measured gap (s) between consecutive chapters, its source, and warnings (module docstring)."""
        n = len(infos)
        warnings: list[str] = []
        fps = infos[0].video.fps if infos[0].video is not None else None
        gaps: list[float | None] = [None] * (n - 1)
        source: str | None = None
        tc_seconds: list[float] | None = None
        if fps and all(timecodes):
            try:
                tc_seconds = [timecode_seconds(str(tc), fps) for tc in timecodes]
            except ValueError as exc:
                warnings.append(f"a chapter's timecode tag is unreadable ({exc}); gaps not measured by timecode")
        if tc_seconds is not None and fps:
            day = _timecode_day_s(str(timecodes[0]), fps)
            for i in range(n - 1):
                gap = tc_seconds[i + 1] - (tc_seconds[i] + spans[i])
                if gap < -day / 2:  # the recording ran past midnight
                    gap += day
                gaps[i] = gap
            source = "timecode"
        else:
            stamps = [s for s in (_creation_time(info.tags.get("creation_time")) for info in infos) if s]
            if len(stamps) == n and len(set(stamps)) > 1:  # all equal: recent GoPros, nothing to measure
                for i in range(n - 1):
                    gaps[i] = (stamps[i + 1] - stamps[i]).total_seconds() - spans[i + 1]
                source = "creation_time"
        for i, gap in enumerate(gaps):
            if gap is not None and abs(gap) > GAP_WARN_S:
                warnings.append(
                    f"{self.paths[i + 1]} starts {gap:+.2f} s after {self.paths[i]} ends (by {source}), not right "
                    "after it: the files may not be consecutive chapters of one recording; they are joined as "
                    "if they were — check the file list"
                )
        return gaps, source, warnings

    def frames(self, threads: int = 1) -> Iterator[tuple[float, Frame]]:
        for chapter, start in zip(self.chapters, self.starts, strict=True):
            for time, frame in chapter.frames(threads):
                yield start + time, frame

    def audio(self, sample_rate_hz: int) -> DecodedAudio | None:
        starts = self.starts  # after the check that every chapter has audio, or none
        decoded = [chapter.audio(sample_rate_hz) for chapter in self.chapters]
        missing = [str(path) for path, d in zip(self.paths, decoded, strict=True) if d is None]
        if len(missing) == len(decoded):
            return None
        if missing:
            raise InputError(
                f"{self.prefix}{self.name}: chapters {', '.join(missing)} decode no audio but the others "
                "do; chapters of one recording all have it — these are different recordings"
            )
        pieces = [d for d in decoded if d is not None]
        offsets = [int(round(start * sample_rate_hz)) for start in starts]
        out = np.zeros(max(o + len(d.samples) for o, d in zip(offsets, pieces, strict=True)), np.float32)
        for k, (offset, piece) in enumerate(zip(offsets, pieces, strict=True)):
            # A chapter's audio may begin a few ms after its first frame (padded with silence by its
            # reader); there the previous chapter's overhanging audio is kept instead.
            skip = max(0, int(round(piece.audio_start_s * sample_rate_hz))) if k else 0
            out[offset + skip : offset + len(piece.samples)] = piece.samples[skip:]
        first = pieces[0]
        return DecodedAudio(
            samples=out, sample_rate_hz=sample_rate_hz, original_rate_hz=first.original_rate_hz,
            original_channels=first.original_channels, original_layout=first.original_layout,
            original_codec=first.original_codec, audio_start_s=first.audio_start_s,
            channels_used=first.channels_used,
        )

    def camera(self) -> CameraModel | None:
        return self.chapters[0].camera()


def check_chapter_order(paths: Sequence[Path], where: str = "") -> None:
    """Files listed twice, or GoPro chapters out of order, of different recordings or with one
    missing: an InputError saying the order expected. Other names: the given order stands."""
    prefix = f"{where}: " if where else ""
    seen: set[Path] = set()
    for path in paths:
        key = path.resolve()
        if key in seen:
            raise InputError(f"{prefix}{path} is listed twice among the chapters; list each chapter file once")
        seen.add(key)
    parsed = [gopro_chapter(path) for path in paths]
    if not all(parsed):
        return
    numbers = [p for p in parsed if p is not None]
    names = ", ".join(path.name for path in paths)
    recordings = sorted({recording for recording, _ in numbers})
    if len(recordings) > 1:
        raise InputError(
            f"{prefix}{names}: GoPro recordings {', '.join(f'{r:04d}' for r in recordings)} are different "
            "recordings (the last 4 digits of the name number the recording), not chapters of one; "
            "list each recording as its own media row"
        )
    chapters = [chapter for _, chapter in numbers]
    expected = ", ".join(path.name for _, path in sorted(zip(chapters, paths, strict=True)))
    for i in range(1, len(paths)):
        a, b = chapters[i - 1], chapters[i]
        if b == a:
            raise InputError(
                f"{prefix}{names}: {paths[i - 1].name} and {paths[i].name} are both chapter {a} of recording "
                f"{recordings[0]:04d}; list each chapter once (GH and GX files are different recordings)"
            )
        if b < a:
            raise InputError(
                f"{prefix}{names}: GoPro chapters are listed out of order; list them as {expected} "
                "(the two digits after GH/GX/GP number the chapter; GOPRxxxx comes first)"
            )
    for i in range(1, len(paths)):
        if chapters[i] != chapters[i - 1] + 1:
            raise InputError(
                f"{prefix}{names}: chapter {chapters[i - 1] + 1} is missing between {paths[i - 1].name} and "
                f"{paths[i].name}; every later chapter would be placed too early — list every chapter of "
                "the recording"
            )

"""Probe media files with PyAV: duration, streams, fps, sample rate, container tags.

PyAV links its own FFmpeg libraries, so probing needs no ``ffprobe`` binary (the imageio-ffmpeg
build ships none). A file PyAV cannot open, or a video stream that yields no frame, is an
:class:`InputError` naming the file and the sample-sheet line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av

from egoinstruct.errors import InputError


def open_media(path: str | Path, where: str = "") -> av.container.InputContainer:
    """Open a media file with PyAV; a file FFmpeg cannot read is an :class:`InputError`."""
    prefix = f"{where}: " if where else ""
    try:
        return av.open(str(path))
    except av.error.FFmpegError as exc:
        raise InputError(
            f"{prefix}{path}: not a readable media file ({exc}); re-export or re-copy it "
            "(a truncated copy is the usual cause)"
        ) from exc


def probe_media(path: str | Path, where: str = "") -> dict[str, Any]:
    """Container and stream facts of a media file.

    Returns ``{"path", "format", "duration_s", "tags", "video": {...} | None, "audio": {...} |
    None}``; ``video`` holds codec, width, height, fps, n_frames (from the header when known),
    start_s and duration_s; ``audio`` holds codec, sample_rate_hz, channels, layout, start_s and
    duration_s. The first video frame is decoded to prove the stream is readable.
    """
    path = Path(path)
    prefix = f"{where}: " if where else ""
    if not path.exists():
        raise InputError(f"{prefix}{path} does not exist; fix the path in the sample sheet")
    with open_media(path, where) as container:
        result: dict[str, Any] = {
            "path": str(path),
            "format": container.format.name,
            "duration_s": container.duration / 1e6 if container.duration else None,
            "tags": dict(container.metadata),
            "video": None,
            "audio": None,
        }
        if container.streams.video:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            result["video"] = {
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
                    f"{prefix}{path}: the video stream cannot be decoded ({exc or 'no frames'}); "
                    "the file is corrupt or truncated — re-export it"
                ) from exc
        if container.streams.audio:
            stream = container.streams.audio[0]
            ctx = stream.codec_context
            result["audio"] = {
                "codec": ctx.name,
                "sample_rate_hz": ctx.sample_rate,
                "channels": ctx.channels,
                "layout": ctx.layout.name if ctx.layout else None,
                "start_s": float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0,
                "duration_s": float(stream.duration * stream.time_base) if stream.duration else None,
            }
        if result["video"] is None and result["audio"] is None:
            raise InputError(f"{prefix}{path}: has neither a video nor an audio stream")
    return result

"""Probe a device's media (:func:`probe_media`, through :mod:`egoinstruct.media.reader`) and the
checks every container reader shares.

For files FFmpeg reads, PyAV links its own FFmpeg libraries, so probing needs no ``ffprobe`` binary (the imageio-ffmpeg
build ships none). What the later stages need is checked here, where it is cheap: the file opens,
the first video frame decodes, and every stream decodes to within a second of the end its header
states (seek there, decode the rest) — an MP4 cut short after its index (``moov`` at the front)
opens fine and would otherwise fail minutes later, in audio extraction. Each problem is an
:class:`InputError` naming the file and the sample-sheet line and saying what to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av

from egoinstruct.errors import InputError

# A stream may end this much (s) before the end its header states and still count as whole
# (encoders round; audio priming).
END_TOLERANCE_S = 1.0


def check_file(path: str | Path, where: str = "") -> Path:
    """``path`` is a non-empty file: an :class:`InputError` that says which of the usual mistakes
    it is (missing, a folder, zero bytes) otherwise."""
    path = Path(path)
    prefix = f"{where}: " if where else ""
    if not path.exists():
        raise InputError(f"{prefix}{path} does not exist; fix the path in the sample sheet")
    if path.is_dir():
        raise InputError(f"{prefix}{path} is a folder, not a file; give the path of the file inside it")
    if path.stat().st_size == 0:
        raise InputError(f"{prefix}{path} is empty (0 bytes): the copy never completed; copy the file again")
    return path


def open_media(path: str | Path, where: str = "") -> av.container.InputContainer:
    """Open a media file with PyAV; a file FFmpeg cannot read is an :class:`InputError`."""
    prefix = f"{where}: " if where else ""
    check_file(path, where)
    try:
        return av.open(str(path))
    except av.error.FFmpegError as exc:
        raise InputError(
            f"{prefix}{path}: FFmpeg cannot read it as audio or video ({exc}); if it is media, the file is "
            "damaged or cut short — copy or export it again"
        ) from exc


def _decodes_to_end(path: Path, kind: str, duration_s: float) -> float | None:
    """Time (s) of the last frame of stream ``kind`` decoded from ``duration_s`` − 2 s to the end,
    or None when nothing decodes there."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0] if kind == "video" else container.streams.audio[0]
        last: float | None = None
        try:
            container.seek(int(max(0.0, duration_s - 2.0) / stream.time_base), stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.time is not None:
                    last = float(frame.time)
        except av.error.FFmpegError:
            return last
        return last


def check_streams_whole(path: Path, result: dict[str, Any], where: str = "") -> None:
    """Every stream decodes to within :data:`END_TOLERANCE_S` of its stated end (see the module
    docstring); ``result`` holds the header facts (``video``/``audio`` with start_s, duration_s)."""
    prefix = f"{where}: " if where else ""
    for kind in ("video", "audio"):
        stream = result.get(kind)
        duration = (stream or {}).get("duration_s") or result.get("duration_s")
        if not stream or not duration:
            continue
        end = float(stream.get("start_s") or 0.0) + float(duration)
        last = _decodes_to_end(path, kind, end)
        if last is None or last < end - END_TOLERANCE_S:
            reached = "nothing decodes" if last is None else f"the last {kind} decodes at {last:.1f} s"
            raise InputError(
                f"{prefix}{path}: the {kind} stream ends early — its header says {end:.1f} s, but {reached} in "
                f"its last 2 s: the file was cut short (an interrupted copy or recording); copy or export it again"
            )


def probe_media(path: str | Path | list[str | Path], where: str = "", **options: Any) -> dict[str, Any]:
    """Facts of a device's media, whatever the container (:mod:`egoinstruct.media.reader`).

    Returns ``{"path", "format", "container", "duration_s", "tags", "video": {...} | None,
    "audio": {...} | None, "device_clock_start_us", "clock_source", ...}``; ``video`` holds
    codec, width, height, fps, n_frames, start_s and duration_s; ``audio`` holds codec,
    sample_rate_hz, channels, layout, start_s (device time of its first sample) and duration_s;
    container-specific facts (``device`` of a VRS, ``export`` of a vrs_to_mp4 export,
    ``chapters``) are added. Every stream is checked to decode to its end.
    """
    from egoinstruct.media.reader import open_recording  # the readers use this module's checks

    return open_recording(path, where=where, **options).info(check_whole=True).to_dict()

"""Frames on the session clock: JPEG frames at a fixed rate in Parquet, decoded as a stream.

For a device with clock ``t_session = offset_s + t_device · (1 + drift_ppm·1e-6)``, the output
holds one row per target time ``t = k / fps`` (k = 0, 1, …) inside both the session
``[0, duration_s)`` and the device's recording; each row is the decoded frame nearest to that
time. The video is decoded once, front to back (whatever the container: :mod:`egoinstruct.media.reader`), and rows are flushed to
Parquet in small row groups, so memory stays flat whatever the video's length.

Table schema: :data:`FRAMES_SCHEMA`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from egoinstruct.clock import DeviceClock
from egoinstruct.io import atomic_path
from egoinstruct.media.reader import Frame, MediaReader, open_recording
from egoinstruct.settings.ingest import FrameSettings
from egoinstruct.tables import FRAMES_SCHEMA, with_metadata

log = logging.getLogger(__name__)

# What a stage may pass as a device's video: a path, chapters in order, or an open reader.
MediaSource = str | Path | Sequence[str | Path] | MediaReader


# Rows per Parquet row group: small groups keep the writer's memory flat for long videos.
ROW_GROUP_SIZE = 64


def _target_size(src_w: int, src_h: int, settings: FrameSettings) -> tuple[int, int]:
    if settings.width and settings.height:
        return settings.width, settings.height
    if settings.width:
        return settings.width, max(2, int(round(src_h * settings.width / src_w)))
    if settings.height:
        return max(2, int(round(src_w * settings.height / src_h))), settings.height
    return src_w, src_h


@dataclass(frozen=True)
class SessionFrame:
    """One frame chosen for session time ``t = index / fps``."""

    index: int
    t: float
    source_time_s: float  # device-clock time of the decoded frame used
    frame: Frame

    @property
    def source_size(self) -> tuple[int, int]:
        """(width, height) of the recording's frames: pixel quantities are reported in these
        (an analysis-stream frame, :mod:`egoinstruct.analysis`, is smaller than what it stands for)."""
        return getattr(self.frame, "source_size", (self.frame.width, self.frame.height))

    def image(self, size: tuple[int, int] | None = None) -> np.ndarray:
        """BGR uint8 image, resized (INTER_AREA) to ``size`` = (width, height) when given."""
        image = self.frame.to_bgr()
        if size is not None and (image.shape[1], image.shape[0]) != size:
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        return image


def session_frames(video: MediaSource, clock: DeviceClock, fps: float, threads: int = 1,
                   until_s: float | None = None) -> Iterator[SessionFrame]:
    """Stream the frames of ``video`` (a path, chapters, or an open reader, any container:
    :mod:`egoinstruct.media.reader`) at ``fps`` on the session clock.

    Target k is session time ``k / fps``; it takes the decoded frame nearest to it on the device
    clock (``clock.to_device``). Targets outside the session ``[0, clock.session_duration_s)``
    (or ``[0, until_s)`` when given) or outside the device's recording (beyond half a frame period past its
    last frame) are skipped. The video is decoded once; only chosen frames are converted by the
    caller, so this costs little more than decoding. A frame that stands for a source frame (an
    analysis-stream frame) keeps that frame's device time as ``source_time_s``.
    """
    offset_s, scale = clock.offset_s, clock.scale
    period = 1.0 / fps
    duration_s = clock.session_duration_s if until_s is None else min(until_s, clock.session_duration_s)
    n_targets = int(np.ceil(duration_s * fps - 1e-9))
    k = max(0, int(np.ceil(offset_s * fps - 1e-9)))  # first target the device covers
    previous: tuple[float, Frame] | None = None
    reader = video if isinstance(video, MediaReader) else open_recording(video)
    log.info("decoding video %s", reader.name)  # one line per decode: tests count them in the rule logs
    for t_dev, frame in reader.frames(threads):
        while k < n_targets:
            target = (k * period - offset_s) / scale  # target time on the device clock
            if t_dev < target:
                break
            if previous is not None and abs(previous[0] - target) <= abs(t_dev - target):
                yield _chosen(k, period, *previous)
            else:
                yield _chosen(k, period, t_dev, frame)
            k += 1
        if k >= n_targets:
            return
        previous = (t_dev, frame)
    if previous is not None:
        last_t, last_frame = previous
        while k < n_targets and (k * period - offset_s) / scale - last_t <= 0.5 * period:
            yield _chosen(k, period, last_t, last_frame)
            k += 1


def _chosen(k: int, period: float, t_dev: float, frame: Frame) -> SessionFrame:
    return SessionFrame(k, k * period, float(getattr(frame, "source_time_s", t_dev)), frame)


def extract_frames(
    video: MediaSource,
    output: str | Path,
    clock: DeviceClock,
    settings: FrameSettings,
    threads: int = 1,
    metadata: dict[str, str] | None = None,
) -> int:
    """Write the session-clock frames of ``video`` to ``output`` (Parquet); returns the row count."""
    reader = video if isinstance(video, MediaReader) else open_recording(video)
    name = reader.name
    params = [int(cv2.IMWRITE_JPEG_QUALITY), int(settings.jpeg_quality)]
    rows: dict[str, list] = {name: [] for name in FRAMES_SCHEMA.names}
    written = 0
    size: tuple[int, int] | None = None
    meta = {"source": ", ".join(str(p) for p in reader.paths), **clock.metadata(),
            "fps": repr(settings.fps), "jpeg_quality": str(settings.jpeg_quality), **(metadata or {})}

    with atomic_path(output) as tmp:
        writer: pq.ParquetWriter | None = None

        def flush() -> None:
            nonlocal writer
            if not rows["t"]:
                return
            table = pa.Table.from_pydict(rows, schema=FRAMES_SCHEMA)
            if writer is None:
                writer = pq.ParquetWriter(tmp, with_metadata(FRAMES_SCHEMA, meta))
            writer.write_table(table, row_group_size=ROW_GROUP_SIZE)
            for column in rows.values():
                column.clear()

        for chosen in session_frames(reader, clock, settings.fps, threads):
            if size is None:
                size = _target_size(chosen.frame.width, chosen.frame.height, settings)
            ok, jpeg = cv2.imencode(".jpg", chosen.image(size), params)
            if not ok:  # pragma: no cover - OpenCV fails only on invalid images
                raise RuntimeError(f"JPEG encoding failed for frame at {chosen.t:.3f} s of {name}")
            rows["t"].append(chosen.t)
            rows["frame_index"].append(chosen.index)
            rows["source_time_s"].append(chosen.source_time_s)
            rows["width"].append(size[0])
            rows["height"].append(size[1])
            rows["jpeg"].append(jpeg.tobytes())
            written += 1
            if len(rows["t"]) >= ROW_GROUP_SIZE:
                flush()
            if written % 500 == 0:  # progress for long recordings, in the rule's log
                log.info("%s: %d frames, session time %.0f / %.0f s", name, written, chosen.t,
                         clock.session_duration_s)
        flush()
        if writer is None:
            raise clock.no_overlap(name)
        writer.close()
    log.info("%s: %d frames at %g fps (%dx%d)", name, written, settings.fps, *(size or (0, 0)))
    return written

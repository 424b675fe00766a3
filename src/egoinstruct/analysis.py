"""The analysis stream: each device's video decoded once, on the session clock, at a working size.

Four stages look at a device's video — frames, faces, head motion, visual features — each at a
few frames per second and a few hundred pixels. Decoding a head camera's full-resolution video
(Aria 1408×1408 or 2016×1512, GoPro 1080p or 4K) costs far more than what they do with it, so
rule ``analysis_video`` decodes it once (:func:`write_analysis_stream`):

* frame j of the stream is the source frame nearest to session time ``t = k / fps`` with
  ``k = first_index + j`` (:func:`egoinstruct.frames.session_frames`, the same choice the stages
  made on the source), scaled to ``width`` by area averaging (swscale), encoded as H.264 yuv420p
  MP4 with a keyframe every 2 s and its index at the front (``+faststart``): a browser plays it;
* a Parquet index beside it (:data:`INDEX_SCHEMA`) holds per stream frame ``t``,
  ``frame_index`` and ``source_time_s`` (the source frame's device time), and as metadata the
  source's files and size and the device's clock.

The stages open it with :func:`open_video_input` and take their own rate from it. A stage whose
rate divides the stream's gets exactly the session instants and source frames it got from the
source; so by default the stream rate is the least common multiple of the stages' rates
(:func:`stream_rate`), and the configuration check refuses a stream rate that a stage's rate does
not divide (:func:`check_stream_rate`). Pixel quantities (face boxes, image flow) stay in the
source's pixels: :attr:`egoinstruct.frames.SessionFrame.source_size`.

What changes: images pass through one H.264 encode (CRF ``crf``) and are at most ``width`` wide
(docs/benchmarks.md states the measured differences). ``analysis.enabled: false`` makes every
stage decode the source itself, as before the stream existed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from av.video.reformatter import Interpolation

from egoinstruct.clock import DeviceClock
from egoinstruct.errors import InputError
from egoinstruct.frames import MediaSource, session_frames
from egoinstruct.io import atomic_path
from egoinstruct.media.container import AvFrame, ContainerReader
from egoinstruct.media.encode import VideoWriter
from egoinstruct.media.reader import DecodedAudio, Frame, MediaInfo, MediaReader, open_recording
from egoinstruct.tables import table_metadata, with_metadata

log = logging.getLogger(__name__)

INDEX_SCHEMA = pa.schema(
    [
        pa.field("t", pa.float64(), nullable=False),  # session clock (s) of stream frame j
        pa.field("frame_index", pa.int64(), nullable=False),  # k of t = k / fps
        pa.field("source_time_s", pa.float64(), nullable=False),  # device time of the source frame used
    ]
)


# --- rate and size ---------------------------------------------------------------------------------


def _fraction(rate: float) -> Fraction:
    return Fraction(rate).limit_denominator(1000)


def stream_rate(configured: float | None, stage_rates: Sequence[float]) -> float:
    """The stream's frame rate: ``configured``, or the least common multiple of the stages' rates
    (2, 5 and 10 fps give 10; 2.5 and 2 give 10)."""
    if configured:
        return float(configured)
    rates = [_fraction(r) for r in stage_rates]
    numerator = math.lcm(*(r.numerator for r in rates))
    denominator = math.gcd(*(r.denominator for r in rates))
    return float(Fraction(numerator, denominator))


def check_stream_rate(rate: float, stage_rates: Mapping[str, float], max_rate: float = 60.0) -> None:
    """:class:`InputError` unless every stage's rate divides ``rate`` (same instants as decoding the
    source) and ``rate`` stays at most ``max_rate``; ``stage_rates``: config key -> rate."""
    ratio = {key: _fraction(rate) / _fraction(r) for key, r in stage_rates.items()}
    uneven = [f"{key} ({stage_rates[key]:g})" for key, q in ratio.items() if q.denominator != 1]
    if uneven:
        raise InputError(
            f"config analysis.fps: {rate:g} fps is not a whole multiple of {', '.join(uneven)}, so those "
            "stages would get other instants than the session's; set analysis.fps to a common multiple of "
            "the stages' rates, or null (their least common multiple)"
        )
    if rate > max_rate:
        raise InputError(
            f"config analysis.fps: the stages' rates need a {rate:g} fps stream (their least common multiple), "
            f"more than {max_rate:g}; choose rates with a smaller common multiple (e.g. 2, 5, 10) or set "
            "analysis.enabled: false"
        )


def stream_size(source_width: int, source_height: int, width: int | None) -> tuple[int, int]:
    """(width, height) of the stream: ``width`` (never wider than the source; None: the source's),
    the height keeping the aspect ratio; both even (yuv420p halves the chroma planes)."""
    w = source_width if width is None else min(width, source_width)
    h = source_height * w / source_width
    w, h = max(2, w - w % 2), max(2, int(round(h / 2)) * 2)
    return w, h


# --- writing ----------------------------------------------------------------------------------


# Area averaging with exact rounding: half the difference to OpenCV's INTER_AREA on BGR (measured
# on the real GoPro fixture: 1.6 against 4.4 levels without the range fix, 2.6 without exact rounding).
_SCALING = Interpolation.AREA | Interpolation.ACCURATE_RND


def _yuv420p(frame: Frame, size: tuple[int, int]) -> np.ndarray:
    """The frame scaled to ``size`` as planar yuv420p, BT.601 limited range (what the stream is
    tagged as, and what a decoder assumes of untagged video), by swscale with area averaging."""
    if isinstance(frame, AvFrame):
        image = frame.frame  # stays in YUV: no BGR round trip; its own matrix (GoPro: BT.709, full range) is read
    else:
        image = av.VideoFrame.from_ndarray(frame.to_bgr(), format="bgr24")
    # The source's own range matters: a GoPro's full-range (yuvj420p) planes copied as they are
    # would be read as limited range by every decoder, a contrast change of about 4 levels.
    scaled = image.reformat(width=size[0], height=size[1], format="yuv420p", dst_colorspace="ITU601",
                            src_color_range=image.color_range, dst_color_range="MPEG", interpolation=_SCALING)
    return scaled.to_ndarray()



def write_analysis_stream(
    video: MediaSource,
    output: str | Path,
    index_output: str | Path,
    clock: DeviceClock,
    fps: float,
    width: int | None,
    crf: int = 14,
    preset: str = "superfast",
    threads: int = 1,
    metadata: Mapping[str, str] | None = None,
) -> int:
    """Decode ``video`` once into the analysis stream ``output`` (MP4) and its index
    ``index_output`` (Parquet); returns the number of frames. Both appear only when complete."""
    reader = video if isinstance(video, MediaReader) else open_recording(video)
    rows: dict[str, list] = {name: [] for name in INDEX_SCHEMA.names}
    source_size: tuple[int, int] | None = None
    size = (0, 0)
    with atomic_path(output) as tmp_video, atomic_path(index_output) as tmp_index:
        writer: VideoWriter | None = None
        try:
            for chosen in session_frames(reader, clock, fps, threads):
                if writer is None:
                    source_size = (chosen.frame.width, chosen.frame.height)
                    size = stream_size(*source_size, width)
                    writer = VideoWriter(
                        tmp_video, None, fps, *size,
                        metadata={"title": f"egoinstruct analysis stream of {reader.name}",
                                  "comment": f"session time of frame 0: {chosen.t!r} s"},
                        crf=crf, preset=preset, input_format="yuv420p", faststart=True,
                    )
                elif chosen.index != rows["frame_index"][-1] + 1:  # pragma: no cover - session_frames is gapless
                    raise RuntimeError(f"{reader.name}: session frames jump from {rows['frame_index'][-1]} to {chosen.index}")
                writer.write(_yuv420p(chosen.frame, size))
                rows["t"].append(chosen.t)
                rows["frame_index"].append(chosen.index)
                rows["source_time_s"].append(chosen.source_time_s)
                if len(rows["t"]) % 1000 == 0:  # progress for long recordings, in the rule's log
                    log.info("%s: %d frames, session time %.0f / %.0f s", reader.name, len(rows["t"]), chosen.t,
                             clock.session_duration_s)
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        if writer is None or source_size is None:
            raise clock.no_overlap(reader.name)
        writer.close()
        meta = {"source": ", ".join(str(p) for p in reader.paths), "device": clock.device, **clock.metadata(), "fps": repr(fps),
                "width": str(size[0]), "height": str(size[1]), "source_width": str(source_size[0]),
                "source_height": str(source_size[1]), "crf": str(crf), **(metadata or {})}
        pq.write_table(pa.Table.from_pydict(rows, schema=with_metadata(INDEX_SCHEMA, meta)), tmp_index)
    log.info("%s: analysis stream of %d frames at %g fps, %dx%d (source %dx%d)", reader.name, len(rows["t"]),
             fps, *size, *source_size)
    return len(rows["t"])


# --- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnalysisFrame(AvFrame):
    """A decoded stream frame and the source frame it stands for."""

    source_time_s: float  # device time of the source frame
    source_size: tuple[int, int]  # the source's (width, height)


@dataclass(frozen=True)
class StreamIndex:
    """The index of an analysis stream (see the module docstring)."""

    t: np.ndarray
    frame_index: np.ndarray
    source_time_s: np.ndarray
    source: str
    source_size: tuple[int, int]
    device: str
    offset_s: float  # where the device's recording starts on the session clock
    session_duration_s: float

    @classmethod
    def read(cls, path: str | Path) -> StreamIndex:
        try:
            table = pq.read_table(path)
            meta = table_metadata(path)
            return cls(
                t=table.column("t").to_numpy(), frame_index=table.column("frame_index").to_numpy(),
                source_time_s=table.column("source_time_s").to_numpy(), source=meta["source"],
                source_size=(int(meta["source_width"]), int(meta["source_height"])),
                device=meta.get("device", ""), offset_s=float(meta["offset_s"]),
                session_duration_s=float(meta["session_duration_s"]),
            )
        except (OSError, KeyError, ValueError, pa.ArrowException) as exc:
            raise InputError(f"{path}: not an analysis-stream index ({exc!r}); it is the analysis_video rule's "
                             "output — delete it and rerun the workflow") from exc


class AnalysisReader(MediaReader):
    """An analysis stream read back, standing for the source's frames.

    Its frame times are session times minus the device's offset, and :attr:`clock` maps them
    back: so :func:`~egoinstruct.frames.session_frames` starts at the same first instant as on
    the source (the first target at or after the device's start) and picks stream frames by the
    same nearest-frame rule."""

    def __init__(self, video: str | Path, index: str | Path) -> None:
        self.paths = (Path(video),)
        self.where = ""
        self.index = StreamIndex.read(index)
        self._container = ContainerReader(video)

    @property
    def name(self) -> str:
        return f"{self.index.source} (analysis stream {self.paths[0]})"

    @property
    def clock(self) -> DeviceClock:
        """The clock of the stream's frame times (an offset, no drift: drift is already undone)."""
        index = self.index
        return DeviceClock(index.device, index.offset_s, 0.0, index.session_duration_s)

    def info(self, check_whole: bool = True) -> MediaInfo:
        return self._container.info(check_whole)

    def frames(self, threads: int = 1) -> Iterator[tuple[float, AnalysisFrame]]:
        index = self.index
        n = 0
        for n, (_, frame) in enumerate(self._container.frames(threads), start=1):
            if n > len(index.t):
                break
            j = n - 1
            yield float(index.t[j]) - index.offset_s, AnalysisFrame(frame.frame, float(index.source_time_s[j]), index.source_size)
        if n != len(index.t):
            raise InputError(f"{self.paths[0]}: {n} frames, but its index lists {len(index.t)}; the stream is "
                             "damaged — delete it and its index and rerun the workflow")

    def audio(self, sample_rate_hz: int) -> DecodedAudio | None:
        return None


@dataclass(frozen=True)
class VideoInput:
    """What a stage decodes for a device's video, and what its output records about the source."""

    reader: MediaReader
    clock: DeviceClock  # the clock that maps the reader's frame times onto the session
    device_clock: DeviceClock  # the device's own (output metadata)
    source: str  # the recording's files

    def metadata(self) -> dict[str, str]:
        """Table metadata naming the source recording and the device's clock."""
        decoded = "analysis stream" if isinstance(self.reader, AnalysisReader) else "source"
        return {"source": self.source, **self.device_clock.metadata(), "decoded_from": decoded}


def open_video_input(video: Sequence[str], sync: str | Path, device: str, index: str | Path | None = None) -> VideoInput:
    """The video a stage's rule gives it: the device's recording (``video``: its files) or, with
    ``index``, its analysis stream (``video``: the MP4); ``sync``: the session's sync.json."""
    device_clock = DeviceClock.read(sync, device)
    if index is None:
        reader = open_recording(list(video))
        return VideoInput(reader, device_clock, device_clock, ", ".join(str(p) for p in reader.paths))
    stream = AnalysisReader(video[0], index)
    return VideoInput(stream, stream.clock, device_clock, stream.index.source)

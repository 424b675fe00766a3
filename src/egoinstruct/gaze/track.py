"""A head camera's eye-gaze track on the session clock, at a fixed rate, in that camera's pixels.

Job: turn one MPS eye-gaze CSV (any layout, :mod:`egoinstruct.gaze.mps`) into a regular track:

1. **Clean** (:func:`clean_samples`): rows whose yaw or pitch is not a finite number are dropped;
   then, in file order, a row whose timestamp equals an earlier one is dropped as a duplicate
   (the first row wins) and a row whose timestamp goes back in time is dropped as non-monotonic.
   Counts are returned (and logged by the rule). More than ``max_bad_timestamp_fraction`` of
   duplicated or backward rows means the file is not one recording in order (two files pasted
   together, a sorted-by-something-else export): that is an :class:`InputError`, not a guess.
2. **Clock** (:func:`device_clock_start_us`, :meth:`DeviceClock.from_capture_us`): ``tracking_timestamp_us`` is the
   device capture clock; device time (s since the first video frame) is
   ``(ts − device_clock_start_us) / 1e6`` and session time
   ``offset_s + t_device · (1 + drift_ppm·1e-6)`` with the sync stage's offset and drift.
   ``device_clock_start_us`` is what the recording states (``tag`` mode: a raw VRS, a
   vrs_to_mp4 export's per-frame timestamps, or the MP4 container tag of that name; the reader
   says which, :mod:`egoinstruct.media.reader`) or, for videos that state nothing, is taken to
   be the first gaze sample (``first_sample``: right to within a frame or so for an MP4 of the
   same Aria recording, which starts the eye tracker with the RGB camera; logged as a warning).
   ``auto`` uses what the recording states when it states it.
3. **Overlap** (:func:`check_overlap`): a gaze file whose samples do not fall inside the
   device's video on the session clock is an :class:`InputError` naming both spans.
4. **Depth** (:func:`gaze_depth`), per sample, first that is available and inside
   ``depth_range_m``: ``file`` (``depth_m``), ``vergence`` (per-eye yaws and eye positions,
   :func:`egoinstruct.camera.vergence_distance`), else ``default`` (``default_depth_m``).
5. **Resample** (:func:`resample`) to ``t = k / rate_hz`` on the session clock, for every k
   inside both the session and the device's video: yaw, pitch and depth are interpolated
   linearly between the two neighbouring samples when they are at most ``max_gap_s`` apart
   (else the row is a gap, NaN); then projected into the camera (:mod:`egoinstruct.camera`).

Fixations and saccades (:mod:`egoinstruct.gaze.ivt`) and gaze targets
(:mod:`egoinstruct.gaze.target`) are added by the ``gaze`` rule on the resampled track.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from egoinstruct.camera import CameraModel, vergence_distance
from egoinstruct.clock import DeviceClock, Span
from egoinstruct.errors import InputError
from egoinstruct.media.reader import CLOCK_TAG, RecordingFacts
from egoinstruct.settings.gaze import GazeSettings

log = logging.getLogger(__name__)

CLOCK_START_MODES = ("auto", "tag", "first_sample")


@dataclass
class CleaningReport:
    """What :func:`clean_samples` dropped, and why."""

    n_rows: int
    n_nan: int
    n_duplicated: int
    n_non_monotonic: int
    n_kept: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    def summary(self) -> str:
        return (
            f"{self.n_rows} rows: kept {self.n_kept}, dropped {self.n_nan} without yaw/pitch, "
            f"{self.n_duplicated} with a duplicated timestamp, {self.n_non_monotonic} going back in time"
        )


def clean_samples(
    table: pd.DataFrame, source: str | Path, max_bad_timestamp_fraction: float
) -> tuple[pd.DataFrame, CleaningReport]:
    """Valid samples of a canonical gaze table in time order, and what was dropped.

    See the module docstring for the rules; the index of the result is reset.
    """
    n_rows = len(table)
    finite = np.isfinite(table["yaw_rad"].to_numpy()) & np.isfinite(table["pitch_rad"].to_numpy())
    valid = table[finite]
    ts = valid["tracking_timestamp_us"].to_numpy(np.int64)
    # In file order: a timestamp seen before is a duplicate; one below the latest so far went
    # back in time. Comparing with the running maximum (not just the previous row) keeps one
    # bad row from dragging the rows after it out too.
    previous_max = np.maximum.accumulate(np.concatenate([[np.iinfo(np.int64).min], ts[:-1]]))
    duplicated = pd.Series(ts).duplicated(keep="first").to_numpy()
    backwards = ~duplicated & (ts < previous_max)
    n_bad = int(duplicated.sum() + backwards.sum())
    report = CleaningReport(
        n_rows=n_rows,
        n_nan=int((~finite).sum()),
        n_duplicated=int(duplicated.sum()),
        n_non_monotonic=int(backwards.sum()),
        n_kept=int(len(ts) - n_bad),
    )
    if len(ts) and n_bad > max_bad_timestamp_fraction * len(ts):
        first = int(np.flatnonzero(duplicated | backwards)[0])
        raise InputError(
            f"{source}: {report.n_duplicated} duplicated and {report.n_non_monotonic} backward "
            f"tracking_timestamp_us values among {len(ts)} valid rows (the first on line "
            f"{int(valid.index[first]) + 2}); more than {max_bad_timestamp_fraction:.0%} means this "
            "is not one recording in time order — use the MPS file as delivered (one per recording), "
            "or raise gaze.max_bad_timestamp_fraction if the rows are known to be fine"
        )
    kept = valid[~(duplicated | backwards)].reset_index(drop=True)
    if kept.empty:
        raise InputError(
            f"{source}: no usable eye-gaze sample ({report.summary()}); every row lacks yaw/pitch — "
            "MPS writes empty values when eye tracking failed for the whole recording"
        )
    return kept, report


def device_clock_start_us(
    stated_us: int | None, stated_source: str | None, first_sample_us: int, mode: str, source: str | Path = "video"
) -> tuple[int, str]:
    """The device capture time (µs) of the recording's first frame, and where it came from.

    ``stated_us`` is what the recording itself says (``stated_source``: ``vrs`` for a raw Aria
    recording, ``export`` for a vrs_to_mp4 export's frame timestamps, ``tag`` for the MP4 tag
    ``device_clock_start_us``; see :mod:`egoinstruct.media.reader`), None when it says nothing.
    See the module docstring for the modes."""
    if mode not in CLOCK_START_MODES:
        raise InputError(f"gaze.clock_start = {mode!r}; expected one of {', '.join(CLOCK_START_MODES)}")
    if mode in ("auto", "tag") and stated_us is not None:
        return int(stated_us), stated_source or "tag"
    if mode == "tag":
        raise InputError(
            f"{source}: the recording does not state the device capture time of its first frame (a raw Aria VRS "
            f"does, as does a vrs_to_mp4 export or an MP4 with the container tag {CLOCK_TAG}), which "
            "gaze.clock_start: tag requires to put the eye-gaze timestamps on the video's clock; give the VRS or "
            "the export as vrs_to_mp4 wrote it, add the tag (ffmpeg -metadata device_clock_start_us=...), or set "
            "gaze.clock_start: first_sample (assumes gaze starts with the video) or auto"
        )
    log.warning(
        "%s: the recording does not state its device clock; assuming the first eye-gaze sample (%d µs) is the "
        "video's first frame (gaze.clock_start: %s). Right for an MP4 and MPS output of the same Aria recording "
        "to within about a frame; give the VRS, the vrs_to_mp4 export as written, or the %s tag to be exact.",
        source, first_sample_us, mode, CLOCK_TAG,
    )
    return int(first_sample_us), "first_sample"


def check_overlap(t: np.ndarray, video: Span, session: Span, source: str | Path, clock: str) -> Span:
    """The part of the session covered by both the gaze samples and the video; an
    :class:`InputError` when they do not overlap (a wrong file or clock start)."""
    gaze = Span(float(t.min()), float(t.max()))
    covered = gaze.intersect(video).intersect(session)
    if covered.length <= 0:
        raise InputError(
            f"{source}: the eye-gaze samples lie at {gaze.start:+.2f}…{gaze.end:+.2f} s on the "
            f"session clock but the device's video at {video.start:+.2f}…{video.end:+.2f} s (session "
            f"{session.start:.2f}…{session.end:.2f} s): they do not overlap. The CSV belongs to "
            f"another recording, or the device clock start ({clock}) is wrong — check the sample "
            "sheet row and the video's device_clock_start_us tag (gaze.clock_start)"
        )
    share = covered.length / max(video.intersect(session).length, 1e-9)
    if share < 0.5:
        log.warning(
            "%s: eye gaze covers only %.0f%% of the device's video in the session (gaze %.2f…%.2f s, "
            "video %.2f…%.2f s)", source, 100 * share, gaze.start, gaze.end, video.start, video.end,
        )
    return covered


DEPTH_SOURCES = ("file", "vergence", "default")


def gaze_depth(table: pd.DataFrame, settings: GazeSettings) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample gaze depth (m, distance from the CPF origin along the gaze ray) and its source
    (``file`` | ``vergence`` | ``default``); depths outside ``depth_range_m`` do not count."""
    lo, hi = settings.depth_range_m
    depth = np.full(len(table), np.nan)
    source = np.full(len(table), "default", dtype=object)

    def usable(values: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.isfinite(values) & (values >= lo) & (values <= hi)

    from_file = table["depth_m"].to_numpy(np.float64)
    ok = usable(from_file)
    depth[ok], source[ok] = from_file[ok], "file"
    verged = vergence_distance(
        table["left_yaw_rad"].to_numpy(np.float64),
        table["right_yaw_rad"].to_numpy(np.float64),
        table["left_eye_x_m"].to_numpy(np.float64),
        table["right_eye_x_m"].to_numpy(np.float64),
        yaw=table["yaw_rad"].to_numpy(np.float64),
        pitch=table["pitch_rad"].to_numpy(np.float64),
        left_eye_z_m=np.nan_to_num(table["left_eye_z_m"].to_numpy(np.float64)),
        right_eye_z_m=np.nan_to_num(table["right_eye_z_m"].to_numpy(np.float64)),
    )
    use = ~ok & usable(verged)
    depth[use], source[use] = verged[use], "vergence"
    rest = ~ok & ~use
    depth[rest] = settings.default_depth_m
    return depth, source


def resample(
    t: np.ndarray,
    yaw: np.ndarray,
    pitch: np.ndarray,
    depth: np.ndarray,
    depth_source: np.ndarray,
    span: Span,
    rate_hz: float,
    max_gap_s: float,
) -> pd.DataFrame:
    """Samples (sorted ``t``) onto the grid ``k / rate_hz`` in ``[span.start, span.end)``.

    A grid time between two samples at most ``max_gap_s`` apart gets their linear
    interpolation (the depth source of the nearer one); within half a sample period before the
    first or after the last sample, that sample; otherwise NaN (a gap). Yaw and pitch stay far from ±π/2, so
    interpolating the angles is as good as interpolating directions.
    """
    k0 = int(np.ceil(span.start * rate_hz - 1e-9))
    k1 = int(np.ceil(span.end * rate_hz - 1e-9))  # exclusive: t in [start, end)
    grid = np.arange(max(k0, 0), max(k1, 0)) / rate_hz
    n = len(t)
    right = np.searchsorted(t, grid, side="left")  # first sample at or after the grid time
    left = np.clip(right - 1, 0, n - 1)
    right_c = np.clip(right, 0, n - 1)
    exact = (right < n) & np.isclose(t[right_c], grid, atol=1e-9, rtol=0)
    inside = (right > 0) & (right < n)
    gap = t[right_c] - t[left]
    w = np.where(inside & (gap > 0), (grid - t[left]) / np.where(gap > 0, gap, 1.0), 0.0)
    interpolate = inside & (gap <= max_gap_s + 1e-9)
    # a sample stands for half its own period on either side (at the ends of the recording)
    half = 0.5 * (float(np.median(np.diff(t))) if n > 1 else 1.0 / rate_hz) + 1e-9
    before = (right == 0) & (t[0] - grid <= half)
    after = (right == n) & (grid - t[-1] <= half)

    def pick(values: np.ndarray) -> np.ndarray:
        out = np.full(len(grid), np.nan)
        out[interpolate] = (values[left] * (1 - w) + values[right_c] * w)[interpolate]
        out[before] = values[0]
        out[after] = values[-1]
        out[exact] = values[right_c][exact]
        return out

    nearer = np.where(w <= 0.5, left, right_c)
    source = np.full(len(grid), None, dtype=object)
    ok = interpolate | exact
    source[ok] = depth_source[nearer][ok]
    source[before] = depth_source[0]
    source[after] = depth_source[-1]
    return pd.DataFrame(
        {
            "t": grid,
            "yaw_rad": pick(yaw),
            "pitch_rad": pick(pitch),
            "depth_m": pick(depth),
            "depth_source": pd.array(source, dtype="string"),
        }
    )


def project(track: pd.DataFrame, camera: CameraModel) -> pd.DataFrame:
    """Add ``u_px, v_px, in_frame`` (the gazed-at point in ``camera``'s image) to a track."""
    pixels = camera.project_gaze(
        track["yaw_rad"].to_numpy(), track["pitch_rad"].to_numpy(), track["depth_m"].to_numpy()
    )
    out = track.copy()
    out["u_px"] = pixels[:, 0]
    out["v_px"] = pixels[:, 1]
    out["in_frame"] = camera.in_frame(pixels)
    return out


@dataclass
class GazeTrack:
    """The resampled, projected track of one device and the facts of how it was made."""

    table: pd.DataFrame  # t, yaw_rad, pitch_rad, depth_m, depth_source, u_px, v_px, in_frame
    layout: str
    clock_start_us: int
    clock_source: str
    cleaning: CleaningReport
    samples_depth_sources: dict[str, int]
    span: Span

    def metadata(self) -> dict[str, str]:
        return {
            "layout": self.layout,
            "device_clock_start_us": str(self.clock_start_us),
            "clock_source": self.clock_source,
            "cleaning": json.dumps(self.cleaning.to_dict()),
            "depth_sources": json.dumps(self.samples_depth_sources),
        }


def build_track(
    samples: pd.DataFrame,
    layout: str,
    source: str | Path,
    camera: CameraModel,
    recording: RecordingFacts,
    clock: DeviceClock,
    *,
    settings: GazeSettings,
) -> GazeTrack:
    """Clean, clock, depth, resample and project one device's canonical gaze table."""
    clean, report = clean_samples(samples, source, settings.max_bad_timestamp_fraction)
    log.info("%s: %s", source, report.summary())
    ts = clean["tracking_timestamp_us"].to_numpy(np.int64)
    start_us, clock_source = device_clock_start_us(recording.clock_start_us, recording.clock_source, int(ts[0]),
                                                   settings.clock_start, source)
    t = clock.from_capture_us(ts, start_us)
    video = clock.recording(recording.duration_s)
    check_overlap(t, video, clock.session, source, clock_source)
    # Rows for the whole of the device's video inside the session (as the frames stage has),
    # so a stretch without gaze shows up as gap rows rather than as missing rows.
    span = video.intersect(clock.session)
    depth, depth_source = gaze_depth(clean, settings)
    counts = {name: int((depth_source == name).sum()) for name in DEPTH_SOURCES}
    log.info("%s: depth per sample: %s", source, counts)
    track = resample(
        t,
        clean["yaw_rad"].to_numpy(np.float64),
        clean["pitch_rad"].to_numpy(np.float64),
        depth,
        depth_source,
        span,
        settings.rate_hz,
        settings.max_gap_s,
    )
    return GazeTrack(
        table=project(track, camera),
        layout=layout,
        clock_start_us=start_us,
        clock_source=clock_source,
        cleaning=report,
        samples_depth_sources=counts,
        span=span,
    )

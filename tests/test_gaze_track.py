"""Gaze track: cleaning, device clock -> session clock, depth sources, resampling, projection."""

import logging

import numpy as np
import pandas as pd
import pytest

from egoinstruct.camera import CameraModel, gaze_point_cpf
from egoinstruct.clock import DeviceClock, Span
from egoinstruct.errors import InputError
from egoinstruct.gaze.mps import CANONICAL_COLUMNS, read_mps_eye_gaze, write_mps_eye_gaze
from egoinstruct.gaze.track import (
    build_track,
    check_overlap,
    clean_samples,
    device_clock_start_us,
    gaze_depth,
    resample,
)
from egoinstruct.media.reader import RecordingFacts
from egoinstruct.settings.gaze import GazeSettings
from egoinstruct.settings.workflow import defaults_for

from conftest import shared_fixture

START_US = 51_000_000_123  # device capture clock at the first video frame (µs since boot)
EYE_X = 0.0325


def settings(**changes) -> GazeSettings:
    """The config's gaze section with the values these tests rely on stated."""
    values = {"rate_hz": 30.0, "clock_start": "auto", "default_depth_m": 1.0, "depth_range_m": (0.1, 10.0),
              "max_gap_s": 0.1, "max_bad_timestamp_fraction": 0.05}
    return defaults_for(GazeSettings, **{**values, **changes})


def clock(offset_s: float, session_duration_s: float) -> DeviceClock:
    return DeviceClock(device="d", offset_s=offset_s, drift_ppm=0.0, session_duration_s=session_duration_s)


def recording(duration_s: float, clock_start_us: int | None = None) -> RecordingFacts:
    """A device's probe facts: an MP4 whose container tag states its device clock (or nothing)."""
    return RecordingFacts(duration_s=duration_s, size=(320, 240), clock_start_us=clock_start_us,
                          clock_source="tag" if clock_start_us is not None else None, exported=False, generation=None)


def camera() -> CameraModel:
    T = np.eye(4)
    T[:3, :3] = np.diag([-1.0, -1.0, 1.0])  # CPF (x left, y up) -> camera (x right, y down)
    T[:3, 3] = [0.04, -0.02, 0.0]
    return CameraModel("pinhole", 320, 240, (250.0, 250.0, 160.0, 120.0), T)


def canonical(t_device: np.ndarray, points: np.ndarray, start_us: int = START_US) -> pd.DataFrame:
    """A canonical gaze table looking at CPF ``points`` at device times ``t_device``."""
    X, Y, Z = points.T
    n = len(t_device)
    table = pd.DataFrame({
        "tracking_timestamp_us": start_us + np.round(t_device * 1e6).astype(np.int64),
        "yaw_rad": np.arctan2(X, Z),
        "pitch_rad": np.arctan2(Y, Z),
        "depth_m": np.linalg.norm(points, axis=1),
        "left_yaw_rad": np.arctan((X - EYE_X) / Z),
        "right_yaw_rad": np.arctan((X + EYE_X) / Z),
        "left_pitch_rad": np.arctan(Y / Z),
        "right_pitch_rad": np.arctan(Y / Z),
        "left_eye_x_m": np.full(n, EYE_X), "left_eye_y_m": 0.0, "left_eye_z_m": 0.0,
        "right_eye_x_m": np.full(n, -EYE_X), "right_eye_y_m": 0.0, "right_eye_z_m": 0.0,
    })
    return table[CANONICAL_COLUMNS]


def test_projection_against_hand_computed_geometry():
    # Gaze at the CPF point (0.1, 0.05, 1.0): camera point = diag(-1,-1,1)·p + (0.04, -0.02, 0)
    # = (-0.06, -0.07, 1.0) -> u = 250·(-0.06) + 160 = 145, v = 250·(-0.07) + 120 = 102.5.
    p = np.array([[0.1, 0.05, 1.0]])
    table = canonical(np.array([0.0]), p)
    cam = camera()
    pixels = cam.project_gaze(table.yaw_rad, table.pitch_rad, table.depth_m)
    assert np.allclose(pixels, [[145.0, 102.5]])
    depth, source = gaze_depth(table.assign(depth_m=np.nan), settings())
    assert source[0] == "vergence" and np.isclose(depth[0], np.linalg.norm(p))
    assert np.allclose(cam.project_gaze(table.yaw_rad, table.pitch_rad, depth), [[145.0, 102.5]])


def test_depth_sources_in_order_file_vergence_default():
    p = np.array([[0.0, 0.0, 0.5], [0.1, 0.0, 0.8], [0.0, -0.1, 0.45], [0.0, 0.0, 0.6]])
    table = canonical(np.arange(4) / 30, p)
    table.loc[1, "depth_m"] = np.nan  # -> vergence
    table.loc[2, ["depth_m", "left_yaw_rad"]] = np.nan  # -> default
    table.loc[3, "depth_m"] = 50.0  # outside depth_range_m -> vergence
    depth, source = gaze_depth(table, settings(default_depth_m=1.25))
    assert source.tolist() == ["file", "vergence", "default", "vergence"]
    assert np.allclose(depth, [0.5, np.linalg.norm(p[1]), 1.25, 0.6])


def test_cleaning_drops_nan_duplicated_and_backward_rows_with_counts():
    table = canonical(np.arange(40) / 30, np.tile([[0.0, 0.0, 1.0]], (40, 1)))
    table.loc[5, "yaw_rad"] = np.nan
    table.loc[7, "pitch_rad"] = np.nan
    table.loc[11, "tracking_timestamp_us"] = table.loc[10, "tracking_timestamp_us"]  # duplicate
    table.loc[20, "tracking_timestamp_us"] = table.loc[3, "tracking_timestamp_us"] + 1  # back in time
    clean, report = clean_samples(table, "g.csv", max_bad_timestamp_fraction=0.1)
    assert (report.n_rows, report.n_nan, report.n_duplicated, report.n_non_monotonic) == (40, 2, 1, 1)
    assert report.n_kept == len(clean) == 36
    assert np.all(np.diff(clean.tracking_timestamp_us) > 0)
    assert "2 without yaw/pitch" in report.summary()


def test_cleaning_rejects_a_file_that_is_not_in_time_order():
    table = canonical(np.arange(40) / 30, np.tile([[0.0, 0.0, 1.0]], (40, 1)))
    shuffled = table.iloc[np.random.default_rng(1).permutation(40)].reset_index(drop=True)
    with pytest.raises(InputError, match=r"g\.csv: .*backward.*not one recording in time order"):
        clean_samples(shuffled, "g.csv", 0.05)
    pasted = pd.concat([table.iloc[:10], table.iloc[5:10]], ignore_index=True)  # rows 5-9 twice
    with pytest.raises(InputError, match=r"5 duplicated and 0 backward .*the first on line 12"):
        clean_samples(pasted, "g.csv", 0.05)  # data row 10 (0-based) is CSV line 12, after the header
    with pytest.raises(InputError, match="no usable eye-gaze sample"):
        clean_samples(table.assign(yaw_rad=np.nan), "g.csv", 0.05)


def test_clock_start_from_the_recording_or_first_sample(caplog):
    assert device_clock_start_us(1234, "tag", 99, "auto") == (1234, "tag")
    assert device_clock_start_us(1234, "vrs", 99, "tag") == (1234, "vrs")
    assert device_clock_start_us(1234, "export", 99, "first_sample") == (99, "first_sample")
    with caplog.at_level(logging.WARNING):
        assert device_clock_start_us(None, None, 99, "auto", "v.mp4") == (99, "first_sample")
    assert "the recording does not state its device clock" in caplog.text
    with pytest.raises(InputError, match="v.mp4: the recording does not state the device capture time"):
        device_clock_start_us(None, None, 99, "tag", "v.mp4")
    with pytest.raises(InputError, match="expected one of auto, tag, first_sample"):
        device_clock_start_us(None, None, 99, "later", "v.mp4")


def test_gaze_that_does_not_overlap_the_video_is_an_error():
    t = np.linspace(100.0, 110.0, 50)
    with pytest.raises(InputError, match=r"g\.csv: the eye-gaze samples lie at \+100\.00…\+110\.00 s .* do not overlap"):
        check_overlap(t, Span(0.5, 60.5), Span(0.0, 60.0), "g.csv", "tag")
    covered = check_overlap(np.linspace(10.0, 70.0, 50), Span(0.5, 60.5), Span(0.0, 60.0), "g.csv", "tag")
    assert (covered.start, covered.end) == (10.0, 60.0)


def test_resample_interpolates_within_max_gap_and_leaves_longer_gaps():
    t = np.array([0.00, 0.05, 0.10, 0.40, 0.45])
    yaw = np.array([0.0, 0.1, 0.2, 0.3, 0.4])
    source = np.array(["file", "file", "vergence", "default", "default"], dtype=object)
    out = resample(t, yaw, -yaw, np.ones(5), source, Span(0.0, 0.525), rate_hz=40.0, max_gap_s=0.1)
    assert np.allclose(out.t, np.arange(21) / 40)  # [0, 0.525)
    assert np.allclose(out.yaw_rad.iloc[:5], [0.0, 0.05, 0.1, 0.15, 0.2])  # 0, .025, .05, .075, .1 s
    assert out.yaw_rad.iloc[5:16].isna().all()  # 0.125 … 0.375 s: the 0.3 s gap stays a gap
    assert out.depth_source.iloc[3] == "file" and out.depth_source.iloc[4] == "vergence"  # tie: earlier
    assert pd.isna(out.depth_source.iloc[8])
    assert np.isclose(out.yaw_rad.iloc[18], 0.4)  # 0.45 s exactly
    assert np.isclose(out.yaw_rad.iloc[19], 0.4)  # 0.475 s: within half a period after the last
    assert np.isnan(out.yaw_rad.iloc[20])  # 0.5 s: beyond


@pytest.mark.parametrize("layout", ["gen1_v3", "gen2", "gen1_v2"])
def test_track_of_each_layout_lands_on_the_drawn_pixels(tmp_path, layout):
    """Write an MPS CSV (device clock) for pixels drawn at known session times, read it back
    through the whole track and compare pixels at the session grid."""
    cam = camera()
    rate, offset = 30.0, 0.35  # offset not a multiple of 1/rate: the grid falls between samples
    t_device = np.arange(0, 4.0, 1 / rate)
    u = 100 + 40 * np.floor(t_device)  # fixations: one pixel per second
    v = np.full_like(u, 110.0)
    depth = 0.45 + 0.15 * (np.floor(t_device) % 2)
    yaw, pitch = cam.gaze_for_pixel(np.stack([u, v], axis=1), depth)
    table = canonical(t_device, gaze_point_cpf(yaw, pitch, depth))
    if layout == "gen1_v2":
        table["depth_m"] = np.nan  # empty, as in real files of that layout
    path = tmp_path / "general_eye_gaze.csv"
    write_mps_eye_gaze(table, path, layout)
    gaze = read_mps_eye_gaze(path)
    track = build_track(gaze.table, gaze.layout, path, cam, recording(4.0, START_US), clock(offset, 10.0),
                        settings=settings())
    out = track.table
    assert out.t.iloc[0] == pytest.approx(11 / 30) and np.allclose(np.diff(out.t), 1 / 30)
    assert out.t.iloc[-1] <= offset + 4.0
    # grid times inside a fixation (not within a sample of a jump)
    sec = np.floor(out.t - offset)
    steady = ((out.t - offset) % 1.0 > 0.05) & ((out.t - offset) % 1.0 < 0.95) & out.u_px.notna()
    expected_u = 100 + 40 * sec
    error = np.hypot(out.u_px - expected_u, out.v_px - 110.0)[steady]
    if layout == "gen1_v2":  # no depth: 1 m default, off by the camera-eye parallax
        assert track.samples_depth_sources["default"] == len(table)
        assert error.max() > 1.0 and error.max() < 25.0
    else:
        assert error.max() < 1e-6
        assert track.samples_depth_sources["file" if layout == "gen1_v3" else "vergence"] == len(table)
    assert out.in_frame.all() and track.clock_source == "tag"


def test_real_excerpt_goes_through_the_track():
    path = shared_fixture("aria_mps", "gen2_general_eye_gaze.csv")
    gaze = read_mps_eye_gaze(path)
    first = int(gaze.table.tracking_timestamp_us.iloc[0])
    track = build_track(gaze.table, gaze.layout, path, camera(), recording(1.0), clock(0.0, 1.0),
                        settings=settings(rate_hz=90.0, clock_start="first_sample"))
    out = track.table
    assert track.clock_source == "first_sample" and track.clock_start_us == first
    assert (out.depth_source.dropna() == "vergence").all()
    assert out.u_px.notna().sum() == len(gaze.table)


def test_gaze_file_from_another_recording_is_rejected_through_the_track(tmp_path):
    table = canonical(np.arange(0, 2, 1 / 30), np.tile([[0.0, 0.0, 1.0]], (60, 1)))
    # the recording says its first frame was 500 s after these samples were taken
    with pytest.raises(InputError, match=r"g\.csv: the eye-gaze samples lie at -500\.00…-498\.03 s"):
        build_track(table, "gen1_v3", "g.csv", camera(), recording(60.0, START_US + 500_000_000), clock(0.0, 60.0),
                    settings=settings())

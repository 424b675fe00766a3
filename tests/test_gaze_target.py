"""Gaze targets: face detection (offline), per-row labels, per-window shares, truth comparison."""

import dataclasses
import os
import subprocess

import cv2
import matplotlib
import numpy as np
import pandas as pd
import pytest

from egoinstruct.clock import DeviceClock
from egoinstruct.errors import MissingModelError
from egoinstruct.gaze.check import cohen_kappa, compare_device
from egoinstruct.gaze.faces import (
    HaarFaceDetector,
    detect_faces,
    detect_scaled,
    make_detector,
    near_search,
    partner_box,
)
from egoinstruct.gaze.target import label_targets, target_windows
from egoinstruct.media.ffmpeg import ffmpeg_executable
from egoinstruct.settings.gaze import FaceSettings, TargetSettings
from egoinstruct.settings.workflow import defaults_for

from conftest import make_video

PORTRAIT = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")  # a real photo

# Haar detection with faces down to 6 % of the frame width (the face in the 200 px copy is small).
HAAR = defaults_for(FaceSettings, detector="haar", model=None, min_size_frac=0.06, scale_factor=1.1, min_neighbors=3)
# The labelling rules below assume a 10 % face margin and a 0.8 m reach.
TARGET = defaults_for(TargetSettings, face_margin=0.1, workspace_max_depth_m=0.8)


def test_haar_finds_the_face_in_a_real_photo():
    image = cv2.imread(PORTRAIT)
    boxes = detect_scaled(HaarFaceDetector(HAAR), image, max_width=480)
    assert len(boxes) >= 1
    x0, y0, x1, y1 = partner_box(boxes)
    # her face is around the middle of the upper half of the 512x600 portrait
    assert 120 < (x0 + x1) / 2 < 380 and 100 < (y0 + y1) / 2 < 330 and 80 < x1 - x0 < 320
    # the same face when detection runs on a downscaled copy, in the original's pixels
    small = detect_scaled(HaarFaceDetector(HAAR), image, max_width=200)
    assert np.abs(partner_box(small) - partner_box(boxes)).max() < 0.15 * (x1 - x0)


def test_yunet_without_weights_says_what_to_download(tmp_path):
    with pytest.raises(MissingModelError, match="gaze.faces.model is not set"):
        make_detector(defaults_for(FaceSettings, detector="yunet", model=None))
    with pytest.raises(MissingModelError, match="face_detection_yunet_2023mar.onnx"):
        make_detector(defaults_for(FaceSettings, detector="yunet", model=str(tmp_path / "missing.onnx")))


def test_partner_is_the_largest_face():
    boxes = np.array([[0, 0, 10, 10, 3], [50, 50, 90, 100, 5], [5, 5, 30, 30, 9]], np.float32)
    assert partner_box(boxes).tolist() == [50, 50, 90, 100]
    assert np.isnan(partner_box(np.empty((0, 5)))).all()


def test_detect_faces_on_the_session_clock(tmp_path):
    video = tmp_path / "face.mp4"
    subprocess.run([ffmpeg_executable(), "-v", "error", "-loop", "1", "-i", PORTRAIT, "-t", "1",
                    "-r", "15", "-vf", "scale=256:300", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    str(video)], check=True)
    clock = DeviceClock(device="d", offset_s=0.25, drift_ppm=0.0, session_duration_s=2.0)
    faces = detect_faces(video, clock, settings=dataclasses.replace(HAAR, fps=10, max_width=480))
    # the device covers session time 0.25 … 1.25 s: rows at 0.3 … 1.2 (+ half a frame)
    assert faces.t.iloc[0] == pytest.approx(0.3) and faces.t.iloc[-1] <= 1.25 + 1 / 30
    assert (faces.n_faces >= 1).mean() > 0.9 and faces.face_x0.notna().mean() > 0.9
    assert faces.width.iloc[0] == 256 and faces.height.iloc[0] == 300


def test_near_search_finds_the_face_where_it_was():
    image = cv2.imread(PORTRAIT)
    detector = HaarFaceDetector(HAAR)
    full = partner_box(detect_scaled(detector, image, max_width=480))
    near = near_search(detector, image, 480, full + np.array([6, -4, 6, -4]))  # the face moved a little
    assert len(near) >= 1 and np.abs(partner_box(near) - full).max() < 0.1 * (full[2] - full[0])
    # nothing near a place where no face is, and no face far smaller than the last one
    assert len(near_search(detector, image, 480, np.array([0, 520, 60, 580]))) == 0
    assert len(near_search(detector, image, 480, np.array([full[0], full[1], full[0] + 400, full[1] + 400]))) == 0


def test_faces_are_followed_and_searched_in_full_at_intervals(tmp_path):
    video = tmp_path / "face.mp4"
    # the portrait panning slowly to the right: the face moves 1 px per frame
    subprocess.run([ffmpeg_executable(), "-v", "error", "-loop", "1", "-i", PORTRAIT, "-t", "2", "-r", "10",
                    "-vf", "pad=iw+40:ih:0:0,crop=iw-40:ih:40-n:0", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    str(video)], check=True)
    clock = DeviceClock(device="d", offset_s=0.0, drift_ppm=0.0, session_duration_s=2.0)
    followed = detect_faces(video, clock, settings=dataclasses.replace(HAAR, fps=10, redetect_every=5, lost_every=2))
    every = detect_faces(video, clock, settings=dataclasses.replace(HAAR, fps=10, redetect_every=1))
    assert followed.search.tolist()[:11] == ["full", "near", "near", "near", "near"] * 2 + ["full"]
    assert (every.search == "full").all()
    boxes = ["face_x0", "face_y0", "face_x1", "face_y1"]
    width = (every.face_x1 - every.face_x0).mean()
    assert (followed[boxes] - every[boxes]).abs().to_numpy().max() < 0.1 * width


def test_without_a_face_the_whole_frame_is_searched_every_lost_every_frames(tmp_path):
    video = make_video(tmp_path / "pattern.mp4", duration_s=1.0, audio=False, size="160x120")
    clock = DeviceClock(device="d", offset_s=0.0, drift_ppm=0.0, session_duration_s=1.0)
    faces = detect_faces(video, clock, settings=dataclasses.replace(HAAR, fps=10, lost_every=3))
    assert (faces.n_faces == 0).all()
    assert faces.search.tolist()[:7] == ["full", "none", "none", "full", "none", "none", "full"]


def labelled_track() -> pd.DataFrame:
    # 10 rows at 10 Hz; the face box is (100, 50)-(150, 100) in every face frame
    return pd.DataFrame({
        "t": np.arange(10) / 10,
        "u_px": [120, 155, 160, 120, 120, 120, np.nan, 120, 300, 120],
        "v_px": [70, 70, 70, 200, 200, 200, np.nan, 200, 10, 70],
        "in_frame": [True, True, True, True, True, True, False, True, False, True],
        "depth_m": [1.0, 1.0, 1.0, 0.45, 0.45, 2.0, np.nan, 1.0, 1.0, 1.0],
        "depth_source": ["file", "file", "file", "file", "file", "vergence", None, "default", "file", "file"],
        "event": ["fixation", "fixation", "fixation", "fixation", "saccade", "fixation", "gap",
                  "fixation", "fixation", "saccade"],
        "fixation_id": [0, 0, 0, 1, -1, 2, -1, 3, 3, -1],
    })


def faces_table(t: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"t": t, "face_x0": 100.0, "face_y0": 50.0, "face_x1": 150.0, "face_y1": 100.0})


def test_label_rules():
    track = labelled_track()
    labels = label_targets(track, faces_table(np.arange(10) / 10), TARGET)
    assert labels.tolist() == [
        "partner_face",  # inside the box
        "partner_face",  # 5 px right of it: inside the 10 % margin (5 px of a 50 px box)
        "other",  # 10 px right: off the face, and a measured 1 m is beyond reach (0.8 m)
        "workspace",  # fixation within reach
        "other",  # saccade
        "other",  # fixation at a measured 2 m
        "unknown",  # gap
        "workspace",  # default depth (distance unknown) counts as within reach
        "unknown",  # outside the image
        "partner_face",  # a saccade across the face is still on the face
    ]
    assert (label_targets(track, None, TARGET) == "unknown").all()
    # no face-detection frame near a row: unknown
    far = label_targets(track, faces_table(np.array([0.0, 0.1])), TARGET)
    assert far[0] == "partner_face" and (far[3:] == "unknown").all()


def test_windows_shares_and_counts():
    track = labelled_track()
    track["target"] = ["partner_face", "partner_face", "other", "workspace", "other", "other",
                       "unknown", "workspace", "unknown", "partner_face"]
    windows = target_windows(track, window_s=0.5)
    assert windows.t_start.tolist() == [0.0, 0.5] and windows.n_rows.tolist() == [5, 5]
    first, second = windows.iloc[0], windows.iloc[1]
    assert first.known_fraction == 1.0
    assert (first.p_partner_face, first.p_workspace, first.p_other) == (0.4, 0.2, 0.4)
    assert second.known_fraction == pytest.approx(0.6)
    assert second.p_partner_face == pytest.approx(1 / 3) and second.p_other == pytest.approx(1 / 3)
    assert first.n_fixations == 2 and first.n_saccades == 1  # ids 0, 1 start; one saccade run
    assert second.n_fixations == 2 and second.n_saccades == 1  # ids 2, 3


def test_cohen_kappa_by_hand():
    # positions 0-3 agree (x), 4 does not, 5-7 agree (y), 8-9 do not: p_o = 0.7;
    # marginals a: 5 x / 5 y, b: 6 x / 4 y, so p_e = 0.5·0.6 + 0.5·0.4 = 0.5 and kappa = 0.4
    a = np.array(list("xxxxxyyyyy"))
    b = np.array(list("xxxxyyyyxx"))
    assert np.mean(a == b) == 0.7
    p_e = 0.5 * 0.6 + 0.5 * 0.4
    assert cohen_kappa(a, b) == pytest.approx((0.7 - p_e) / (1 - p_e)) == pytest.approx(0.4)
    assert cohen_kappa(a, a) == 1.0 and np.isnan(cohen_kappa(np.array([]), np.array([])))


def test_compare_device_against_truth_frames():
    t = np.arange(0, 2, 1 / 30)
    gaze = pd.DataFrame({"t": t, "u_px": 10 * t, "v_px": np.full_like(t, 5.0), "depth_m": 1.0,
                         "target": np.where(t < 1, "partner_face", "workspace")})
    ft = np.arange(0, 2, 1 / 15) + 0.01
    truth = pd.DataFrame({"t": ft, "gaze_u": 10 * ft + 1.0, "gaze_v": 5.0, "gaze_depth_m": 1.0,
                          "gaze_target": pd.array(np.where(ft < 1, "partner_face", "other"), dtype="string")})
    result = compare_device(gaze, truth)
    assert result["median_px_error"] == pytest.approx(1.0)
    assert result["face_accuracy"] == 1.0 and result["target_accuracy"] == pytest.approx(0.5, abs=0.04)

import sys

import numpy as np
import pytest

from egoinstruct.camera import (
    CameraModel,
    camera_from_vrs,
    gaze_point_cpf,
    vergence_distance,
    vergence_z_m,
    yaw_pitch_from_point_cpf,
)
from egoinstruct.errors import InputError, MissingModelError

FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])  # CPF (x left, y up) -> camera (x right, y down)


def test_pinhole_projection_by_hand():
    cam = CameraModel("pinhole", 320, 240, (200.0, 250.0, 160.0, 120.0))
    # (0.1, -0.2, 2.0) -> u = 200*0.05 + 160 = 170, v = 250*(-0.1) + 120 = 95
    assert np.allclose(cam.project(np.array([[0.1, -0.2, 2.0]])), [[170.0, 95.0]])
    assert np.isnan(cam.project(np.array([[0.0, 0.0, -1.0]]))).all()


def test_gaze_straight_ahead_hits_principal_point_shifted_by_camera_offset():
    T = FLIP.copy()
    T[:3, 3] = [0.05, 0.0, 0.0]  # camera 5 cm to the left of the CPF origin (in camera x)
    cam = CameraModel("pinhole", 320, 240, (250.0, 250.0, 160.0, 120.0), T)
    # Looking straight ahead at 1 m: CPF point (0, 0, 1) -> camera (0.05, 0, 1) -> u = 172.5
    assert np.allclose(cam.project_gaze(0.0, 0.0, 1.0), [[172.5, 120.0]])
    # Yaw to the wearer's left (positive yaw, CPF +x) moves the point left in the image.
    assert cam.project_gaze(0.2, 0.0, 1.0)[0, 0] < 172.5
    # Positive pitch (up) moves it up (smaller v).
    assert cam.project_gaze(0.0, 0.2, 1.0)[0, 1] < 120.0


def test_gaze_point_direction_and_depth():
    p = gaze_point_cpf([np.arctan(0.5)], [0.0], 2.0)
    assert np.allclose(np.linalg.norm(p), 2.0)
    assert np.allclose(p[0, 0] / p[0, 2], 0.5)
    yaw, pitch = yaw_pitch_from_point_cpf(p)
    assert np.allclose([yaw[0], pitch[0]], [np.arctan(0.5), 0.0])


@pytest.mark.parametrize("model,params", [
    ("pinhole", (250.0, 250.0, 160.0, 120.0)),
    # Distortion of the order of a real Aria RGB calibration, scaled to 320x240.
    ("fisheye624", (140.0, 160.0, 120.0, 0.39, -0.36, -0.19, 1.2, -1.3, 0.5, 1e-4, -2e-4, 3e-4, 1e-4, -2e-4, 1e-4)),
])
def test_gaze_for_pixel_round_trips(model, params):
    T = FLIP.copy()
    T[:3, 3] = [0.04, -0.02, 0.01]
    cam = CameraModel(model, 320, 240, params, T)
    pixels = np.array([[5.0, 7.0], [160.0, 120.0], [300.0, 230.0]])
    depth = np.array([0.45, 1.0, 3.0])
    yaw, pitch = cam.gaze_for_pixel(pixels, depth)
    assert np.abs(cam.project_gaze(yaw, pitch, depth) - pixels).max() < 1e-6
    assert cam.in_frame(pixels).all()
    assert not cam.in_frame(np.array([[-3.0, 5.0], [np.nan, 1.0]])).any()


def test_vergence_z_recovers_the_crossing_plane():
    for X, Z in [(0.0, 0.5), (0.2, 1.2), (-0.1, 0.35)]:
        left = np.arctan((X - 0.0325) / Z)
        right = np.arctan((X + 0.0325) / Z)
        assert np.isclose(vergence_z_m(left, right, 0.0325, -0.0325), Z)
    assert np.isnan(vergence_z_m(0.1, 0.1, 0.0325, -0.0325))  # parallel rays
    assert np.isnan(vergence_z_m(0.1, -0.1, 0.0325, -0.0325))  # diverging rays (left eye looks left)


def test_vergence_distance_is_the_depth_project_gaze_takes():
    # Hand-worked: the point (0.3, -0.4, 1.2) m in the CPF, eyes at x = ±0.0325 m.
    X, Y, Z = 0.3, -0.4, 1.2
    yaw, pitch = np.arctan2(X, Z), np.arctan2(Y, Z)
    left, right = np.arctan((X - 0.0325) / Z), np.arctan((X + 0.0325) / Z)
    distance = vergence_distance(left, right, 0.0325, -0.0325, yaw=yaw, pitch=pitch)
    assert np.isclose(distance, np.sqrt(X * X + Y * Y + Z * Z))  # 1.3 m, not z = 1.2 m
    assert np.isclose(distance, 1.3)
    assert np.allclose(gaze_point_cpf(yaw, pitch, distance), [[X, Y, Z]])
    # eyes set back from the CPF origin (z = -0.01 m): the rays still cross at the point
    left_b, right_b = np.arctan((X - 0.0325) / (Z + 0.01)), np.arctan((X + 0.0325) / (Z + 0.01))
    assert np.isclose(vergence_distance(left_b, right_b, 0.0325, -0.0325, yaw=yaw, pitch=pitch,
                                        left_eye_z_m=-0.01, right_eye_z_m=-0.01), 1.3)
    with pytest.raises(TypeError):  # yaw and pitch cannot be left out or passed by position
        vergence_distance(left, right, 0.0325, -0.0325)  # type: ignore[call-arg]


def test_scaled_camera_projects_to_the_resized_pixels():
    cam = CameraModel("pinhole", 320, 240, (250.0, 250.0, 160.0, 120.0), FLIP)
    big = cam.scaled(640, 480)
    # pixel centres: u' = (u + 0.5) * 2 - 0.5
    u = cam.project_gaze(0.1, -0.05, 1.0)
    assert np.allclose(big.project_gaze(0.1, -0.05, 1.0), (u + 0.5) * 2 - 0.5)
    fish = CameraModel("fisheye624", 320, 240, (140.0, 160.0, 120.0, 0.39, -0.36, -0.19, 1.2, -1.3, 0.5,
                                                1e-4, -2e-4, 3e-4, 1e-4, -2e-4, 1e-4), FLIP)
    u = fish.project_gaze(0.2, 0.1, 0.8)
    assert np.allclose(fish.scaled(160, 120).project_gaze(0.2, 0.1, 0.8), (u + 0.5) * 0.5 - 0.5)
    with pytest.raises(InputError, match="aspect ratio"):
        fish.scaled(320, 320)


def test_camera_from_config_mapping_names_the_source():
    cam = CameraModel.from_dict({"model": "pinhole", "width": 320, "height": 240,
                                 "params": [250, 250, 160, 120]}, "config gaze.camera")
    assert np.allclose(cam.T_camera_cpf, np.eye(4))
    assert CameraModel.from_dict(cam.to_dict()).params == cam.params
    with pytest.raises(InputError, match="config gaze.camera: camera calibration lacks params"):
        CameraModel.from_dict({"model": "pinhole", "width": 320, "height": 240}, "config gaze.camera")


def test_vrs_calibration_without_projectaria_tools_says_how_to_get_it(tmp_path, monkeypatch):
    # projectaria-tools is in the pinned environment; an environment built by hand may lack it.
    for name in ("projectaria_tools", "projectaria_tools.core"):
        monkeypatch.setitem(sys.modules, name, None)
    (tmp_path / "recording.vrs").write_bytes(b"\0" * 10)
    with pytest.raises(MissingModelError, match="needs projectaria-tools.*requirements/aria.txt"):
        camera_from_vrs(tmp_path / "recording.vrs")


def test_calibration_json_round_trip(tmp_path):
    cam = CameraModel("pinhole", 320, 240, (250.0, 250.0, 160.0, 120.0), FLIP)
    cam.to_json(tmp_path / "c.json")
    back = CameraModel.from_json(tmp_path / "c.json")
    assert back.params == cam.params and np.allclose(back.T_camera_cpf, FLIP)


def test_bad_calibration_is_explained(tmp_path):
    (tmp_path / "c.json").write_text('{"model": "pinhole", "width": 10}')
    with pytest.raises(InputError, match="lacks height, params"):
        CameraModel.from_json(tmp_path / "c.json")
    (tmp_path / "d.json").write_text('{"model": "pinhole", "width": 10, "height": 10, "params": [1, 2]}')
    with pytest.raises(InputError, match="takes 4 parameters"):
        CameraModel.from_json(tmp_path / "d.json")


def test_fisheye_pixel_outside_the_model_gives_nan_not_a_crash():
    cam = CameraModel("fisheye624", 320, 240, (150.0, 160.0, 120.0, 0.4, -0.5, 0.1, 0.6, -1.0, 0.3, 0, 0, 0, 0, 0, 0))
    rays = cam.unproject(np.array([[5.0, 7.0], [160.0, 120.0]]))
    assert np.isnan(rays[0]).all()
    assert np.allclose(rays[1], [0, 0, 1])

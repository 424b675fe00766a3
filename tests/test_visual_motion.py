"""Head motion from optical flow (a synthetic pan of known speed) and from an MPS trajectory;
the debug GIF."""

from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from egoinstruct.camera import CameraModel
from egoinstruct.clock import DeviceClock, Span
from egoinstruct.errors import InputError
from egoinstruct.settings.gaze import GazeDebugSettings
from egoinstruct.settings.visual import HeadMotionSettings
from egoinstruct.settings.workflow import defaults_for
from egoinstruct.visual.debug import write_debug_gif
from egoinstruct.visual.motion import (
    device_head_motion,
    find_mps_trajectory,
    flow_angle_deg,
    read_mps_trajectory,
    trajectory_head_motion,
)

FPS = 15
SPEED_PX = 4  # image pixels per frame the scene moves right (the head turns left)


def motion_settings(fps: float = 10, method: str = "auto") -> HeadMotionSettings:
    return defaults_for(HeadMotionSettings, fps=fps, method=method, flow_width=160)


def clock(offset_s: float, session_duration_s: float) -> DeviceClock:
    return DeviceClock(device="d", offset_s=offset_s, drift_ppm=0.0, session_duration_s=session_duration_s)


def panning_video(path: Path, seconds: float = 2.0, width: int = 320, height: int = 240) -> Path:
    """A textured scene shifting right by SPEED_PX per frame, for half the clip, then still."""
    rng = np.random.default_rng(0)
    texture = (rng.random((height // 8, (width + 400) // 8, 3)) * 255).astype(np.uint8)
    texture = np.kron(texture, np.ones((8, 8, 1), np.uint8))  # blocky: good for flow
    n = int(seconds * FPS)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "12"}
        for i in range(n):
            shift = SPEED_PX * min(i, n // 2)
            x0 = 200 - shift
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(texture[:, x0 : x0 + width]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_optical_flow_recovers_a_pan(tmp_path):
    video = panning_video(tmp_path / "pan.mp4")
    cam = CameraModel("pinhole", 320, 240, (250.0, 250.0, 159.5, 119.5))
    motion, method = device_head_motion(video, clock(0.0, 2.0), video_duration_s=2.0,
                                        settings=motion_settings(fps=FPS, method="video"),
                                        camera=cam)
    assert method == "video" and np.isnan(motion.flow_dx_px_s.iloc[0])
    moving = motion[(motion.t > 0.1) & (motion.t < 0.9)]
    still = motion[motion.t > 1.1]
    assert moving.flow_dx_px_s.median() == pytest.approx(SPEED_PX * FPS, rel=0.1)
    assert abs(moving.flow_dy_px_s.median()) < 3 and still.flow_speed_px_s.max() < 3
    expected_deg_s = np.degrees(np.arctan(SPEED_PX / 250.0)) * FPS
    assert moving.angular_speed_deg_s.median() == pytest.approx(expected_deg_s, rel=0.1)


def test_flow_angle_by_hand():
    cam = CameraModel("pinhole", 101, 101, (100.0, 100.0, 50.0, 50.0))
    assert flow_angle_deg(cam, 100.0, 0.0) == pytest.approx(45.0)


TRAJECTORY_HEADER = (
    "graph_uid,tracking_timestamp_us,utc_timestamp_ns,tx_world_device,ty_world_device,tz_world_device,"
    "qx_world_device,qy_world_device,qz_world_device,qw_world_device,device_linear_velocity_x_device,"
    "device_linear_velocity_y_device,device_linear_velocity_z_device,angular_velocity_x_device,"
    "angular_velocity_y_device,angular_velocity_z_device,gravity_x_world,gravity_y_world,gravity_z_world,"
    "quality_score"
)


def write_trajectory(path: Path, start_us: int, seconds: float = 2.0, rate: int = 1000) -> Path:
    """An MPS closed-loop trajectory: still for 1 s, then turning at 0.5 rad/s about y."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(0, seconds, 1 / rate)
    w = np.where(t >= 1.0, 0.5, 0.0)
    rows = [f"g,{start_us + int(round(x * 1e6))},-1,0,0,0,0,0,0,1,0.3,0,0.4,0,{wy},0,0,0,-9.81,0.5"
            for x, wy in zip(t, w, strict=True)]
    path.write_text(TRAJECTORY_HEADER + "\n" + "\n".join(rows) + "\n")
    return path


def test_trajectory_beside_the_gaze_folder(tmp_path):
    mps = tmp_path / "mps"
    gaze = mps / "eye_gaze" / "general_eye_gaze.csv"
    assert find_mps_trajectory(gaze) == [] and find_mps_trajectory(None) == []
    path = write_trajectory(mps / "slam" / "closed_loop_trajectory.csv", start_us=10_000_000)
    assert find_mps_trajectory(gaze) == [str(path)]
    samples = read_mps_trajectory(path)
    assert samples.linear_speed_m_s.iloc[0] == pytest.approx(0.5)
    # device clock starts 0.2 s after the trajectory; the device is 1.0 s late on the session clock
    motion = trajectory_head_motion(path, clock(1.0, 10.0), 10_200_000, Span(1.0, 2.5), motion_settings(fps=10))
    assert np.allclose(motion.t, np.arange(10, 25) / 10)  # [1.0, 2.5)
    # session t = 1.0 + (ts − 10.2 s); the turn starts at ts = 11 s -> session 1.8 s
    assert motion.set_index("t").angular_speed_deg_s.loc[1.5] == pytest.approx(0.0)
    assert motion.set_index("t").angular_speed_deg_s.loc[2.2] == pytest.approx(np.degrees(0.5))
    assert motion.flow_dx_px_s.isna().all()
    chosen, method = device_head_motion("v.mp4", clock(1.0, 10.0), video_duration_s=1.5, settings=motion_settings(fps=10),
                                        trajectory=path,
                                        capture_start_us=10_200_000)
    assert method == "trajectory" and len(chosen) == len(motion)
    with pytest.raises(InputError, match="do not overlap"):
        trajectory_head_motion(path, clock(1.0, 10.0), 60_000_000, Span(1.0, 2.5), motion_settings(fps=10))


def test_trajectory_problems_are_explained(tmp_path):
    with pytest.raises(InputError, match="the device has no MPS SLAM trajectory .*kind mps"):
        device_head_motion("v.mp4", clock(0.0, 1.0), video_duration_s=1.0,
                           settings=motion_settings(method="trajectory"))
    bad = tmp_path / "closed_loop_trajectory.csv"
    bad.write_text("tracking_timestamp_us,tx_world_device\n1,0\n")
    with pytest.raises(InputError, match="missing column.*angular_velocity_x_device"):
        read_mps_trajectory(bad)


def test_debug_gif(tmp_path):
    video = panning_video(tmp_path / "pan.mp4", seconds=1.0)
    t = np.arange(0, 1, 1 / 30)
    gaze = pd.DataFrame({"t": t, "u_px": 160.0, "v_px": 120.0, "event": "fixation",
                         "target": np.where(t < 0.5, "partner_face", "workspace")})
    faces = pd.DataFrame({"t": np.arange(0, 1, 0.1), "face_x0": 140.0, "face_y0": 100.0,
                          "face_x1": 180.0, "face_y1": 140.0})
    out = tmp_path / "debug.gif"
    settings = defaults_for(GazeDebugSettings, start_s=0.2, duration_s=0.6, fps=5, width=160)
    n = write_debug_gif(video, out, gaze, faces, clock(0.0, 1.0), settings)
    assert n == 3  # 0.2, 0.4, 0.6 … 0.8 s: t in [0.2, 0.8)
    with Image.open(out) as gif:
        assert gif.n_frames == n and gif.size == (160, 120)

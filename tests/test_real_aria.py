"""A real Aria Gen 1 recording (the shared fixtures' VRS, its MPS eye gaze) and a real vrs_to_mp4
export of it, read by the pipeline's media reader and checked against projectaria-tools' own API.

The VRS is 0.4 s long: 8 RGB frames (1408×1408 JPEG, 20 Hz), 4 microphone records (7 channels,
48 kHz, int32, one timestamp per sample); its MPS eye gaze has 4 samples at 10 Hz, old Gen 1
layout without depth (so the 1 m default depth is used).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from projectaria_tools.core import data_provider, mps
from projectaria_tools.core.sensor_data import TimeDomain

from egoinstruct.camera import CameraModel
from egoinstruct.errors import InputError
from egoinstruct.gaze.mps import read_mps_eye_gaze
from egoinstruct.gaze.stage import device_camera
from egoinstruct.media.probe import probe_media
from egoinstruct.media.reader import RecordingFacts, open_recording
from egoinstruct.media.vrs import VrsReader
from egoinstruct.validate import check_generations, probe_device, probe_gaze_csv

from conftest import shared_fixture

EXPORT = Path(__file__).parent / "data" / "aria_vrs_to_mp4"


@pytest.fixture(scope="module")
def vrs() -> Path:
    return shared_fixture("real", "aria", "gen1_aea", "recording.vrs")


@pytest.fixture(scope="module")
def provider(vrs):
    return data_provider.create_vrs_data_provider(str(vrs))


def _aria_projection(provider, yaw, pitch, depth) -> np.ndarray:
    """projectaria-tools' own projection of CPF gaze into the RGB image (factory calibration)."""
    calib = provider.get_device_calibration()
    camera = calib.get_camera_calib("camera-rgb")
    T_camera_cpf = camera.get_transform_device_camera().inverse() @ calib.get_transform_device_cpf()
    pixels = []
    for y, p, d in zip(yaw, pitch, depth, strict=True):
        point = T_camera_cpf @ mps.get_eyegaze_point_at_depth(float(y), float(p), float(d))
        pixels.append(camera.project(point.reshape(3)))
    return np.array(pixels, dtype=np.float64)


def test_vrs_frames_are_projectaria_frames_on_their_capture_clock(vrs, provider):
    rgb = provider.get_stream_id_from_label("camera-rgb")
    stamps = np.array(provider.get_timestamps_ns(rgb, TimeDomain.DEVICE_TIME), dtype=np.int64)
    frames = list(open_recording(vrs).frames())
    assert len(frames) == len(stamps) == 8
    assert [t for t, _ in frames] == pytest.approx((stamps - stamps[0]) / 1e9, abs=1e-9)
    assert not np.allclose(np.diff(stamps), 50_000_000)  # timing is not perfectly regular: taken as it is
    for index, (_, frame) in enumerate(frames):
        expected = provider.get_image_data_by_index(rgb, index)[0].to_numpy_array()
        assert np.array_equal(frame.to_bgr()[:, :, ::-1], expected)


def test_vrs_audio_is_the_mixed_microphones_placed_by_their_timestamps(vrs, provider):
    mic = provider.get_stream_id_from_label("mic")
    rgb_start = provider.get_timestamps_ns(provider.get_stream_id_from_label("camera-rgb"), TimeDomain.DEVICE_TIME)[0]
    blocks, first = [], None
    for index in range(provider.get_num_data(mic)):
        data, record = provider.get_audio_data_by_index(mic, index)
        first = first if first is not None else record.capture_timestamps_ns[0]
        raw = np.asarray(data.data, dtype=np.int64).reshape(-1, 7)
        blocks.append(raw[:, [0, 2]].mean(axis=1) / data.max_amplitude)
    expected = np.concatenate(blocks)
    decoded = open_recording(vrs).audio(48_000)  # the native rate: no resampling, sample for sample
    pad = round((first - rgb_start) / 1e9 * 48_000)
    assert decoded.audio_start_s == pytest.approx((first - rgb_start) / 1e9, abs=1e-9)
    assert decoded.channels_used == (0, 2) and decoded.original_channels == 7
    assert pad == 1127 and not decoded.samples[:pad].any()
    assert np.abs(decoded.samples[pad:pad + len(expected)] - expected).max() < 1e-7
    at_16k = open_recording(vrs).audio(16_000).samples
    assert abs(len(at_16k) - (pad + len(expected)) / 3) <= 2


def test_vrs_probe_says_what_the_recording_holds(vrs):
    probe = probe_media(vrs)
    assert probe["container"] == "vrs" and probe["device"]["generation"] == "gen1"
    assert probe["video"]["width"] == probe["video"]["height"] == 1408 and probe["video"]["n_frames"] == 8
    assert probe["audio"]["sample_rate_hz"] == 48_000 and probe["audio"]["channels"] == 7
    assert probe["audio"]["channels_used"] == [0, 2]
    assert probe["device_clock_start_us"] == 86_385_246 and probe["clock_source"] == "vrs"
    assert probe["duration_s"] == pytest.approx(0.4, abs=0.01)


def test_factory_calibration_projects_real_gaze_as_projectaria_does(vrs, provider):
    gaze = read_mps_eye_gaze(shared_fixture("real", "aria", "gen1_aea", "mps", "eye_gaze", "general_eye_gaze.csv"))
    camera = open_recording(vrs).camera()
    assert camera is not None and camera.model == "fisheye624" and camera.device == "aria_gen1"
    for depth in (0.5, 1.0, 2.0):
        yaw, pitch = gaze.table.yaw_rad.to_numpy(), gaze.table.pitch_rad.to_numpy()
        ours = camera.project_gaze(yaw, pitch, np.full(len(yaw), depth))
        theirs = _aria_projection(provider, yaw, pitch, np.full(len(yaw), depth))
        assert np.abs(ours - theirs).max() < 1e-3  # measured: < 1e-5 px


def test_vrs_to_mp4_export_frames_clock_and_audio(vrs, provider):
    export = EXPORT / "recording.mp4"
    rgb = provider.get_stream_id_from_label("camera-rgb")
    stamps = np.array(provider.get_timestamps_ns(rgb, TimeDomain.DEVICE_TIME), dtype=np.int64)
    reader = open_recording(export)
    info = reader.info().to_dict()
    # the device clock the export states is the raw recording's, frame for frame
    assert info["clock_source"] == "export" and info["device_clock_start_us"] == stamps[0] // 1000
    times = [t for t, _ in reader.frames()]
    assert times == pytest.approx((stamps[: len(times)] - stamps[0]) / 1e9, abs=1e-9)
    # without the log, the MP4 timeline start is estimated to within half a frame; with it, exact
    assert info["export"]["audio_clock_error_bound_s"] == pytest.approx(0.025)
    assert abs(reader.audio(16_000).audio_start_s - 0.023488727) <= 0.025
    exact = open_recording(export, export_log=EXPORT / "log")
    assert exact.info().to_dict()["export"]["timeline_start_ns"] == 86_408_734_764
    from_export = exact.audio(16_000).samples
    from_vrs = open_recording(vrs).audio(16_000).samples
    n = min(len(from_export), len(from_vrs))
    a, b = from_export[:n] - from_export[:n].mean(), from_vrs[:n] - from_vrs[:n].mean()
    lags = range(-80, 81)
    scores = [np.dot(a[max(0, k):n + min(0, k)], b[max(0, -k):n - max(0, k)]) for k in lags]
    assert lags[int(np.argmax(scores))] == 0  # the export's audio lands where the VRS's does
    assert np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)) > 0.99


def test_vrs_to_mp4_gen1_frames_are_turned_and_so_is_the_camera(vrs):
    raw = [frame.to_bgr() for _, frame in open_recording(vrs).frames()]
    exported = [frame.to_bgr() for _, frame in open_recording(EXPORT / "recording.mp4").frames()]
    for k, image in enumerate(exported):
        turned = np.abs(image.astype(int) - np.rot90(raw[k], -1).astype(int)).mean()
        as_is = np.abs(image.astype(int) - raw[k].astype(int)).mean()
        assert turned < 4 < 20 < as_is  # H.264 noise vs a different picture
    facts = RecordingFacts.from_probe({"duration_s": 0.34, "media_kind": "video",
                                       "inputs": {"video": probe_media(EXPORT / "recording.mp4")}})
    assert facts.exported
    camera, source = device_camera(facts, calibration=vrs)
    sensor = open_recording(vrs).camera()
    assert camera is not None and source == "calibration" and camera.rotation_cw == 90
    yaw, pitch = np.array([-0.3, 0.0, 0.25]), np.array([-0.1, 0.05, 0.2])
    u, v = sensor.project_gaze(yaw, pitch, 1.0).T
    assert np.allclose(camera.project_gaze(yaw, pitch, 1.0), np.stack([1407 - v, u], axis=1))
    # what a turned pixel shows is the scene point the sensor pixel shows
    assert np.allclose(camera.unproject(np.stack([1407 - v, u], axis=1)), sensor.unproject(np.stack([u, v], axis=1)))
    raw_camera, _ = device_camera(RecordingFacts.from_probe({"duration_s": 0.4, "media_kind": "aria_vrs",
                                                             "inputs": {"aria_vrs": probe_media(vrs)}}), vrs=vrs)
    assert raw_camera is not None and raw_camera.rotation_cw == 0


def test_a_cut_short_vrs_names_the_problem(vrs, tmp_path):
    cut = tmp_path / "recording.vrs"
    cut.write_bytes(vrs.read_bytes()[:200_000])
    with pytest.raises(InputError, match=r"recording\.vrs: the camera-rgb stream \(214-1\) is there but holds no "
                                         r"records: the file was cut short"):
        probe_media(cut, "r.tsv: line 2")
    junk = tmp_path / "junk.vrs"
    junk.write_bytes(b"not a recording" * 100)
    with pytest.raises(InputError, match=r"junk\.vrs: projectaria-tools cannot open it as a VRS recording"):
        probe_media(junk)


def _rows(vrs: Path, offset_s: float | None = None, role: str = "learner") -> pd.DataFrame:
    return pd.DataFrame([{"session": "s1", "device": "aria", "role": role, "kind": "aria_vrs", "path": str(vrs),
                          "offset_s": offset_s, "fold": None, "line": 3}])


def test_a_vrs_without_microphone_or_camera_says_what_still_works(vrs, monkeypatch):
    monkeypatch.setattr(VrsReader, "mic", property(lambda self: None))
    with pytest.raises(InputError, match=r"r\.tsv: line 3 .*has no microphone stream \(mic, 231-1\).* offset_s "
                                         r"column .*its frames, gaze and head motion still work"):
        probe_device(_rows(vrs), "r.tsv", reference_role="instructor")
    probe = probe_device(_rows(vrs, offset_s=1.5), "r.tsv", reference_role="instructor")
    assert not probe["has_audio"] and probe["inputs"]["aria_vrs"]["video"]["n_frames"] == 8
    monkeypatch.setattr(VrsReader, "mic", property(lambda self: self._stream("mic")))
    monkeypatch.setattr(VrsReader, "rgb", property(lambda self: None))
    with pytest.raises(InputError, match=r"has no RGB camera stream \(camera-rgb, 214-1\).*Its audio still works: "
                                         r"list the file with kind audio"):
        probe_device(_rows(vrs), "r.tsv", reference_role="instructor")


def test_gen2_eye_gaze_for_a_gen1_recording_is_refused(vrs):
    inputs = {
        "aria_vrs": probe_media(vrs),
        "gaze_csv": probe_gaze_csv(shared_fixture("real", "aria", "gen2_mps_sample", "eye_gaze",
                                                  "general_eye_gaze.csv"), 0.05),
    }
    with pytest.raises(InputError, match=r"s1/aria: the recording .*recording\.vrs is Aria Gen 1; the eye gaze "
                                         r".*general_eye_gaze\.csv \(layout gen2\) is Aria Gen 2\. .*belongs to another"):
        check_generations(inputs, "s1/aria")
    same = {**inputs, "gaze_csv": probe_gaze_csv(
        shared_fixture("real", "aria", "gen1_aea", "mps", "eye_gaze", "general_eye_gaze.csv"), 0.05)}
    check_generations(same, "s1/aria")


def test_calibration_json_keeps_rotation_and_device(tmp_path, vrs):
    camera = open_recording(vrs).camera().rotated_cw(90).scaled(704, 704)
    path = tmp_path / "calibration.json"
    camera.to_json(path)
    again = CameraModel.from_json(path)
    assert again.rotation_cw == 90 and again.device == "aria_gen1" and (again.width, again.height) == (704, 704)
    assert np.allclose(again.project_gaze(0.1, -0.2, 1.0), camera.project_gaze(0.1, -0.2, 1.0))

"""The workflow on a real Aria Gen 1 recording as a lab brings it: the raw VRS with its MPS
folder, and the same recording as projectaria-tools' vrs_to_mp4 export (with its log folder and
the VRS as calibration), each a one-device session, through validation, device audio, frames and
gaze (and, for the VRS, faces, head motion and visual features). Checked against
projectaria-tools' own reading of the same files."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml
from projectaria_tools.core import data_provider
from projectaria_tools.core.sensor_data import TimeDomain
from test_real_aria import EXPORT, _aria_projection

from egoinstruct.paths import REPO_ROOT
from egoinstruct.tables import read_table

from conftest import shared_fixture, write_tsv
from workflow_utils import snakemake

pytestmark = pytest.mark.slow

OUTPUTS = ("probe/wearer.json", "audio/wearer.wav", "audio/wearer.json", "frames/wearer.parquet",
           "gaze/wearer.parquet", "gaze_probe/wearer.json")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    aea = shared_fixture("real", "aria", "gen1_aea")
    workdir = tmp_path_factory.mktemp("real_aria")
    (workdir / "config").mkdir()
    config = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())
    config["demo"]["enabled"] = False
    config["labels_dir"] = str(REPO_ROOT / "resources" / "labels")
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    write_tsv(workdir / "config" / "recordings.tsv", ["session", "device", "role", "kind", "path"], [
        ["raw", "wearer", "instructor", "aria_vrs", aea / "recording.vrs"],
        ["raw", "wearer", "instructor", "mps", aea / "mps"],
        ["export", "wearer", "instructor", "video", EXPORT / "recording.mp4"],
        ["export", "wearer", "instructor", "export_log", EXPORT / "log"],
        ["export", "wearer", "instructor", "calibration", aea / "recording.vrs"],
        ["export", "wearer", "instructor", "mps", aea / "mps"],
    ])
    write_tsv(workdir / "config" / "annotations.tsv", ["session", "procedure", "path"], [])
    targets = [f"results/sessions/{s}/{o}" for s in ("raw", "export") for o in OUTPUTS]
    targets += [f"results/sessions/raw/{stage}/wearer.parquet" for stage in ("faces", "head_motion", "visual")]
    snakemake(workdir, "--cores", "2", *targets)
    return workdir / "results" / "sessions"


@pytest.fixture(scope="module")
def provider():
    return data_provider.create_vrs_data_provider(str(shared_fixture("real", "aria", "gen1_aea", "recording.vrs")))


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_probe_states_the_device_clock_and_what_was_used(run):
    raw = _json(run / "raw" / "probe" / "wearer.json")["inputs"]["aria_vrs"]
    assert raw["clock_source"] == "vrs" and raw["device_clock_start_us"] == 86_385_246
    assert raw["audio"]["channels_used"] == [0, 2]
    export = _json(run / "export" / "probe" / "wearer.json")["inputs"]["video"]
    assert export["clock_source"] == "export" and export["device_clock_start_us"] == 86_385_246
    mps = _json(run / "raw" / "gaze_probe" / "wearer.json")["inputs"]["mps"]
    assert mps["eye_gaze"].endswith("mps/eye_gaze/general_eye_gaze.csv") and mps["eye_gaze_kind"] == "general"
    assert mps["trajectory"] is None and "slam/closed_loop_trajectory.csv" in mps["not_found"]  # this delivery has none


def test_audio_is_the_recordings_microphones_on_the_device_clock(run):
    samples, rate = sf.read(run / "raw" / "audio" / "wearer.wav")
    assert rate == 16_000 and len(samples) == pytest.approx(0.4 * rate, abs=2)
    lead = round(0.023488727 * rate)  # the first microphone sample comes 23.5 ms after the first frame
    # silence before it (the resampler's filter reaches a few samples back), sound after
    assert not samples[: lead - 4].any() and np.abs(samples[lead:]).max() > 1e-4
    meta = _json(run / "raw" / "audio" / "wearer.json")
    assert meta["original_channels"] == 7 and meta["audio_start_s"] == pytest.approx(0.023488727, abs=1e-9)
    # the export's audio (AAC via MP3, from the same microphones) lands at the same device time
    exported, _ = sf.read(run / "export" / "audio" / "wearer.wav")
    n = min(len(samples), len(exported))
    assert np.corrcoef(samples[lead:n], exported[lead:n])[0, 1] > 0.9


def test_frames_are_the_recordings_frames(run, provider):
    frames = read_table(run / "raw" / "frames" / "wearer.parquet", "frames").to_pandas()
    assert frames.t.iloc[0] == 0.0 and frames.source_time_s.iloc[0] == 0.0
    rgb = provider.get_stream_id_from_label("camera-rgb")
    expected = provider.get_image_data_by_index(rgb, 0)[0].to_numpy_array()
    got = cv2.imdecode(np.frombuffer(frames.jpeg.iloc[0], np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
    expected = cv2.resize(expected, (got.shape[1], got.shape[0]), interpolation=cv2.INTER_AREA)
    assert np.abs(got.astype(float) - expected).mean() < 3  # the frame stage's JPEG, nothing else
    exported = read_table(run / "export" / "frames" / "wearer.parquet", "frames").to_pandas()
    turned = cv2.imdecode(np.frombuffer(exported.jpeg.iloc[0], np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
    assert np.abs(turned.astype(float) - np.rot90(got, -1)).mean() < 8  # the exporter turned it (and re-encoded)


def _gaze(run: Path, session: str) -> pd.DataFrame:
    gaze = read_table(run / session / "gaze" / "wearer.parquet", "gaze").to_pandas()
    return gaze[np.isfinite(gaze.u_px)].reset_index(drop=True)


def test_gaze_lands_where_projectaria_projects_it(run, provider):
    gaze = _gaze(run, "raw")
    assert len(gaze) >= 8
    theirs = _aria_projection(provider, gaze.yaw_rad, gaze.pitch_rad, gaze.depth_m)
    error = np.hypot(gaze.u_px - theirs[:, 0], gaze.v_px - theirs[:, 1])
    assert error.max() < 0.5  # measured: < 1e-5 px


def test_gaze_on_the_export_is_the_same_gaze_turned_with_its_frames(run):
    raw, export = _gaze(run, "raw"), _gaze(run, "export")
    raw = raw[: len(export)]  # the export ends with its last whole frame, 50 ms before the VRS
    assert len(export) >= 8
    assert np.allclose(export.t, raw.t) and np.allclose(export.yaw_rad, raw.yaw_rad)
    size = 1408
    assert np.abs(export.u_px - (size - 1 - raw.v_px)).max() < 1e-6
    assert np.abs(export.v_px - raw.u_px).max() < 1e-6


def test_every_video_stage_reads_the_vrs_at_its_capture_times(run, provider):
    rgb = provider.get_stream_id_from_label("camera-rgb")
    stamps = np.array(provider.get_timestamps_ns(rgb, TimeDomain.DEVICE_TIME), dtype=np.int64)
    capture_s = (stamps - stamps[0]) / 1e9
    faces = read_table(run / "raw" / "faces" / "wearer.parquet", "faces").to_pandas()
    nearest = np.abs(faces.source_time_s.to_numpy()[:, None] - capture_s[None, :]).min(axis=1)
    assert len(faces) >= 4 and nearest.max() < 1e-9  # each a recorded frame, at its own (irregular) time
    motion = read_table(run / "raw" / "head_motion" / "wearer.parquet", "head_motion")
    meta = {k.decode(): v.decode() for k, v in (motion.schema.metadata or {}).items()}
    assert meta["egoinstruct.method"] == "video" and meta["egoinstruct.camera_source"] == "vrs"
    assert np.isfinite(motion.to_pandas().angular_speed_deg_s.iloc[1:]).all()  # degrees: the factory calibration
    visual = read_table(run / "raw" / "visual" / "wearer.parquet", "visual").to_pandas()
    assert len(visual) >= 2 and len(visual.embedding.iloc[0]) == 1280

"""Finding the files of an MPS output folder: the real projectaria-tools sample (older folder and
file names), a folder laid out like a current delivery, the personalized→general fallback, and
the error for a folder without eye gaze."""

import json
import shutil
from pathlib import Path

import pytest

from egoinstruct.errors import InputError
from egoinstruct.gaze.mps import read_mps_eye_gaze
from egoinstruct.gaze.mps_folder import find_mps_outputs, find_mps_trajectory, mps_root
from egoinstruct.visual.motion import find_mps_trajectory as find_mps_trajectory_from_motion
from egoinstruct.visual.motion import read_mps_trajectory

from conftest import shared_fixture


def real(*parts: str) -> Path:
    return shared_fixture("real", "aria", *parts)


def test_real_sample_folder_with_older_names():
    root = real("gen1_mps_sample")
    found = find_mps_outputs(root)
    assert found.root == root and found.eye_gaze_kind == found.eye_gaze_requested == "general"
    assert found.eye_gaze == root / "eye_gaze" / "generalized_eye_gaze.csv"  # older name of general_eye_gaze.csv
    assert read_mps_eye_gaze(found.eye_gaze).layout == "gen1_v2"
    # trajectory/ is the older name of slam/
    assert found.trajectory == root / "trajectory" / "closed_loop_trajectory.csv"
    assert found.trajectory_kind == "closed_loop"
    assert found.online_calibration == root / "trajectory" / "online_calibration.jsonl"
    assert found.summaries == {"eye_gaze": root / "eye_gaze" / "summary.json",
                               "slam": root / "trajectory" / "summary.json"}
    assert found.not_found == ["eye_gaze/general_eye_gaze.csv", "slam/closed_loop_trajectory.csv",
                               "slam/online_calibration.jsonl", "slam/summary.json", "hand_tracking/summary.json"]
    assert found.unused_eye_gaze == [root / "eye_gaze" / "eyegaze.csv",
                                     root / "eye_gaze_vergence" / "generalized_gaze.csv"]
    assert found.warnings == []
    probe = json.loads(json.dumps(found.to_dict()))  # plain data
    assert probe["eye_gaze"] == str(root / "eye_gaze" / "generalized_eye_gaze.csv")
    assert probe["trajectory_kind"] == "closed_loop" and probe["summaries"]["slam"].endswith("trajectory/summary.json")


def test_real_sample_personalized_falls_back_to_general():
    root = real("gen1_mps_sample")
    found = find_mps_outputs(root, eye_gaze="personalized")
    assert found.eye_gaze == root / "eye_gaze" / "generalized_eye_gaze.csv"
    assert found.eye_gaze_requested == "personalized" and found.eye_gaze_kind == "general"
    assert len(found.warnings) == 1 and "no personalized eye gaze" in found.warnings[0]
    assert found.not_found[:3] == ["eye_gaze/personalized_eye_gaze.csv", "eye_gaze/calibrated_eye_gaze.csv",
                                   "eye_gaze/general_eye_gaze.csv"]
    assert found.to_dict()["warnings"] == found.warnings


def test_real_recording_folder_with_mps_inside():
    recording = real("gen1_aea")
    found = find_mps_outputs(recording)
    assert found.root == recording / "mps"
    assert found.eye_gaze == recording / "mps" / "eye_gaze" / "general_eye_gaze.csv"
    assert found.trajectory is None and found.online_calibration is None
    assert found.summaries == {"eye_gaze": recording / "mps" / "eye_gaze" / "summary.json"}
    assert "slam/closed_loop_trajectory.csv" in found.not_found and "trajectory/open_loop_trajectory.csv" in found.not_found
    # the mps/ folder itself and its eye_gaze/ folder mean the same
    assert find_mps_outputs(recording / "mps").eye_gaze == found.eye_gaze
    assert find_mps_outputs(recording / "mps" / "eye_gaze").eye_gaze == found.eye_gaze


@pytest.fixture
def delivery(tmp_path: Path) -> Path:
    """``mps_x_vrs/`` as MPS delivers it today, built from real files."""
    sample = real("gen1_mps_sample")
    mps = tmp_path / "recordings" / "mps_x_vrs"
    (mps / "eye_gaze").mkdir(parents=True)
    shutil.copy(sample / "eye_gaze_vergence" / "generalized_gaze.csv", mps / "eye_gaze" / "personalized_eye_gaze.csv")
    shutil.copy(sample / "eye_gaze" / "generalized_eye_gaze.csv", mps / "eye_gaze" / "general_eye_gaze.csv")
    shutil.copy(sample / "eye_gaze" / "summary.json", mps / "eye_gaze" / "summary.json")
    shutil.copytree(sample / "trajectory", mps / "slam")
    (mps / "hand_tracking").mkdir()
    (mps / "hand_tracking" / "summary.json").write_text("{}\n")
    return mps


def test_current_delivery(delivery: Path):
    found = find_mps_outputs(delivery, eye_gaze="personalized")
    assert found.eye_gaze == delivery / "eye_gaze" / "personalized_eye_gaze.csv"
    assert found.eye_gaze_kind == "personalized" and found.warnings == []
    assert read_mps_eye_gaze(found.eye_gaze).layout == "gen1_v3"
    assert found.trajectory == delivery / "slam" / "closed_loop_trajectory.csv"
    assert found.online_calibration == delivery / "slam" / "online_calibration.jsonl"
    assert found.summaries == {"eye_gaze": delivery / "eye_gaze" / "summary.json",
                               "slam": delivery / "slam" / "summary.json",
                               "hand_tracking": delivery / "hand_tracking" / "summary.json"}
    assert found.not_found == [] and found.unused_eye_gaze == [delivery / "eye_gaze" / "general_eye_gaze.csv"]
    general = find_mps_outputs(delivery)
    assert general.eye_gaze == delivery / "eye_gaze" / "general_eye_gaze.csv" and general.eye_gaze_kind == "general"
    # the folder that holds the one mps_*_vrs/ folder is understood too
    assert find_mps_outputs(delivery.parent, eye_gaze="personalized").root == delivery


def test_open_loop_when_no_closed_loop(delivery: Path):
    (delivery / "slam" / "closed_loop_trajectory.csv").rename(delivery / "slam" / "open_loop_trajectory.csv")
    found = find_mps_outputs(delivery)
    assert found.trajectory == delivery / "slam" / "open_loop_trajectory.csv" and found.trajectory_kind == "open_loop"
    assert found.not_found == ["slam/closed_loop_trajectory.csv", "trajectory/closed_loop_trajectory.csv"]


def test_find_mps_trajectory_beside_the_gaze_csv(delivery: Path):
    gaze = delivery / "eye_gaze" / "general_eye_gaze.csv"
    assert find_mps_trajectory(gaze) == [str(delivery / "slam" / "closed_loop_trajectory.csv")]
    assert find_mps_trajectory(None) == [] and find_mps_trajectory("") == []
    assert find_mps_trajectory_from_motion is find_mps_trajectory  # old import path still works
    # older deliveries: trajectory/
    sample = real("gen1_mps_sample")
    assert find_mps_trajectory(sample / "eye_gaze" / "generalized_eye_gaze.csv") == [
        str(sample / "trajectory" / "closed_loop_trajectory.csv")]
    assert find_mps_trajectory(real("gen1_aea", "mps", "eye_gaze", "general_eye_gaze.csv")) == []


def test_folder_without_eye_gaze_is_an_input_error(delivery: Path):
    shutil.rmtree(delivery / "eye_gaze")
    with pytest.raises(InputError) as info:
        find_mps_outputs(delivery)
    message = str(info.value)
    assert message.startswith(f"{delivery}: no MPS eye gaze in this folder")
    for name in ("eye_gaze/general_eye_gaze.csv", "eye_gaze/generalized_eye_gaze.csv", "eye_gaze/eyegaze.csv",
                 "eye_gaze_vergence/generalized_gaze.csv"):
        assert name in message
    assert "Request eye gaze" in message and "kind gaze_csv" in message
    with pytest.raises(InputError, match="personalized_eye_gaze.csv.*general_eye_gaze.csv"):
        find_mps_outputs(delivery, eye_gaze="personalized")


def test_bad_folders_and_arguments(tmp_path: Path, delivery: Path):
    with pytest.raises(InputError, match="MPS folder not found"):
        find_mps_outputs(tmp_path / "absent")
    with pytest.raises(InputError, match="is a file, not an MPS folder.*kind gaze_csv"):
        find_mps_outputs(delivery / "eye_gaze" / "general_eye_gaze.csv")
    with pytest.raises(InputError, match="eye_gaze = 'calibrated'; expected one of general, personalized"):
        find_mps_outputs(delivery, eye_gaze="calibrated")
    shutil.copytree(delivery, delivery.parent / "mps_y_vrs")
    with pytest.raises(InputError, match=r"holds 2 MPS output folders \(mps_x_vrs, mps_y_vrs\)"):
        mps_root(delivery.parent)
    with pytest.raises(InputError, match="no MPS eye gaze"):  # nothing MPS-like at all
        find_mps_outputs(tmp_path / "recordings" / "mps_x_vrs" / "hand_tracking")


def test_real_trajectory_reads_as_projectaria_reads_it():
    """The trajectory the folder search finds is read by head motion's reader with the samples,
    times and speeds of projectaria-tools' own reader (11 517 poses at 1 kHz)."""
    np = pytest.importorskip("numpy")
    mps = pytest.importorskip("projectaria_tools.core.mps")
    path = find_mps_outputs(real("gen1_mps_sample")).trajectory
    ours = read_mps_trajectory(path)
    theirs = mps.read_closed_loop_trajectory(str(path))
    assert len(ours) == len(theirs) == 11_517
    stamps = np.array([p.tracking_timestamp.total_seconds() * 1e6 for p in theirs])
    assert np.abs(ours.tracking_timestamp_us.to_numpy() - stamps).max() < 1
    angular = np.array([np.linalg.norm(p.angular_velocity_device) for p in theirs])
    linear = np.array([np.linalg.norm(p.device_linear_velocity_device) for p in theirs])
    assert np.allclose(ours.angular_speed_rad_s, angular, atol=1e-9)
    assert np.allclose(ours.linear_speed_m_s, linear, atol=1e-9)

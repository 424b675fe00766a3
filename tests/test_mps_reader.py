import numpy as np
import pandas as pd
import pytest

from egoinstruct.camera import vergence_distance
from egoinstruct.errors import InputError
from egoinstruct.gaze.mps import (
    LAYOUT_COLUMNS,
    detect_layout,
    read_mps_eye_gaze,
    write_mps_eye_gaze,
)

from conftest import shared_fixture


def test_real_gen1_excerpt():
    gaze = read_mps_eye_gaze(shared_fixture("aria_mps", "gen1_general_eye_gaze_adt.csv"))
    assert gaze.layout == "gen1_old"
    t = gaze.table
    assert t.tracking_timestamp_us.iloc[0] == 87551170907
    assert np.isclose(t.yaw_rad.iloc[0], 0.069013) and np.isclose(t.pitch_rad.iloc[0], -0.606622)
    assert t.depth_m.isna().all()  # empty in the real file
    assert t.left_yaw_rad.isna().all()


def test_real_gen2_excerpt_and_vergence():
    gaze = read_mps_eye_gaze(shared_fixture("aria_mps", "gen2_general_eye_gaze.csv"))
    assert gaze.layout == "gen2"
    t = gaze.table
    assert t.tracking_timestamp_us.is_monotonic_increasing
    assert np.allclose(t.left_eye_x_m, 0.0325) and np.allclose(t.right_eye_x_m, -0.0325)
    depth = vergence_distance(t.left_yaw_rad, t.right_yaw_rad, t.left_eye_x_m, t.right_eye_x_m,
                              yaw=t.yaw_rad, pitch=t.pitch_rad)
    assert np.all((depth > 0.3) & (depth < 1.0))  # the wearer looks at something ~0.5 m away


@pytest.mark.parametrize("layout", sorted(LAYOUT_COLUMNS))
def test_write_read_round_trip(tmp_path, layout):
    n = 5
    table = pd.DataFrame({
        "tracking_timestamp_us": np.arange(n, dtype=np.int64) * 33_333 + 10**9,
        "yaw_rad": np.linspace(-0.2, 0.2, n),
        "pitch_rad": np.linspace(0.1, -0.1, n),
        "depth_m": np.full(n, 0.8),
        "left_yaw_rad": np.linspace(-0.25, 0.15, n),
        "right_yaw_rad": np.linspace(-0.15, 0.25, n),
        "left_pitch_rad": np.zeros(n),
        "right_pitch_rad": np.zeros(n),
        "left_eye_x_m": np.full(n, 0.0325), "left_eye_y_m": 0.0, "left_eye_z_m": 0.0,
        "right_eye_x_m": np.full(n, -0.0325), "right_eye_y_m": 0.0, "right_eye_z_m": 0.0,
    })
    path = tmp_path / "general_eye_gaze.csv"
    write_mps_eye_gaze(table, path, layout, session_uid="abc")
    assert pd.read_csv(path, nrows=0).columns.tolist() == LAYOUT_COLUMNS[layout]
    back = read_mps_eye_gaze(path)
    assert back.layout == layout
    assert (back.table.tracking_timestamp_us == table.tracking_timestamp_us).all()
    assert np.allclose(back.table.yaw_rad, table.yaw_rad)
    if layout == "gen2":
        assert back.table.depth_m.isna().all()
        assert np.allclose(back.table.left_pitch_rad, 0.0)


def test_missing_columns_are_named(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("tracking_timestamp_us,yaw_rads_cpf,left_yaw_rads_cpf,right_yaw_rads_cpf\n1,0,0,0\n")
    with pytest.raises(InputError) as info:
        read_mps_eye_gaze(path)
    message = str(info.value)
    assert str(path) in message and "pitch_rads_cpf" in message and "tx_left_eye_cpf" in message


def test_not_gaze_at_all(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("time,x,y\n1,2,3\n")
    with pytest.raises(InputError, match="missing column"):
        read_mps_eye_gaze(path)


def test_empty_timestamp_row_is_named(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("tracking_timestamp_us,yaw_rads_cpf,pitch_rads_cpf\n1,0,0\n,0.1,0.1\n")
    with pytest.raises(InputError, match="row 3"):
        read_mps_eye_gaze(path)


def test_detect_layout_variants():
    assert detect_layout(LAYOUT_COLUMNS["gen1_old"]) == "gen1_old"
    assert detect_layout(LAYOUT_COLUMNS["gen1_new"]) == "gen1_new"
    assert detect_layout(LAYOUT_COLUMNS["gen2"]) == "gen2"


def test_personalized_file_reads_like_the_general_one(tmp_path):
    # MPS writes personalized_eye_gaze.csv (after an in-session calibration) in the same layouts.
    table = pd.DataFrame({"tracking_timestamp_us": [10, 20], "yaw_rad": [0.1, 0.2], "pitch_rad": [0.0, -0.1]})
    path = tmp_path / "mps" / "eye_gaze" / "personalized_eye_gaze.csv"
    write_mps_eye_gaze(table, path, "gen1_old")
    gaze = read_mps_eye_gaze(path)
    assert gaze.layout == "gen1_old" and gaze.table.yaw_rad.tolist() == [0.1, 0.2]
    assert gaze.table.depth_m.isna().all()

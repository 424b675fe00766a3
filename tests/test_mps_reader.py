"""The MPS eye-gaze reader on real files of all four layouts, round trips, the derived gen1_v3
yaw against projectaria-tools' own reader, and errors for headers that fit no layout."""

import numpy as np
import pandas as pd
import pytest

from egoinstruct.camera import gaze_point_cpf, vergence_distance
from egoinstruct.errors import InputError
from egoinstruct.gaze.mps import (
    CANONICAL_COLUMNS,
    LAYOUT_COLUMNS,
    LAYOUTS,
    detect_layout,
    read_mps_eye_gaze,
    vergence_combined_yaw,
    write_mps_eye_gaze,
)

from conftest import shared_fixture

# real file of each layout (shared/fixtures/real/aria, see its SOURCES.md)
REAL = {
    "gen1_v1": ("gen1_mps_sample", "eye_gaze", "eyegaze.csv"),
    "gen1_v2": ("gen1_mps_sample", "eye_gaze", "generalized_eye_gaze.csv"),
    "gen1_v3": ("gen1_mps_sample", "eye_gaze_vergence", "generalized_gaze.csv"),
    "gen2": ("gen2_mps_sample", "eye_gaze", "general_eye_gaze.csv"),
}
AEA = ("gen1_aea", "mps", "eye_gaze", "general_eye_gaze.csv")
ALL_REAL = [*REAL.values(), AEA]


def real(*parts: str):
    return shared_fixture("real", "aria", *parts)


# -- real files -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "parts,layout,rows,first",
    [
        (REAL["gen1_v1"], "gen1_v1", 123, (148502622, 0.894797, 0.039713)),
        (REAL["gen1_v2"], "gen1_v2", 123, (148502622, 0.894797, 0.039713)),
        (AEA, "gen1_v2", 4, (86435306, -0.36566, -0.121962)),
        (REAL["gen2"], "gen2", 5, (1130889351, 0.07778378224032466, -0.36552523325782504)),
    ],
    ids=["gen1_v1", "gen1_v2", "gen1_v2-aea", "gen2"],
)
def test_real_files_with_a_combined_yaw(parts, layout, rows, first):
    gaze = read_mps_eye_gaze(real(*parts))
    assert gaze.layout == layout
    t = gaze.table
    assert t.columns.tolist() == CANONICAL_COLUMNS and len(t) == rows
    assert t.tracking_timestamp_us.dtype == np.int64 and t.tracking_timestamp_us.is_monotonic_increasing
    assert t.tracking_timestamp_us.iloc[0] == first[0]
    assert t.yaw_rad.iloc[0] == pytest.approx(first[1]) and t.pitch_rad.iloc[0] == pytest.approx(first[2])
    assert t.depth_m.isna().all()  # empty in these real files; gen2 has no depth column
    if layout == "gen2":
        assert np.allclose(t.left_eye_x_m, 0.0325) and np.allclose(t.right_eye_x_m, -0.0325)
        assert t.left_pitch_rad.iloc[0] == pytest.approx(-0.3649531942118841)
    else:
        assert t.left_yaw_rad.isna().all() and t.left_eye_x_m.isna().all()


def test_real_gen2_file_has_crlf_and_a_vergence_depth():
    path = real(*REAL["gen2"])
    assert path.read_bytes().count(b"\r\n") == 6  # as delivered
    t = read_mps_eye_gaze(path).table
    depth = vergence_distance(t.left_yaw_rad, t.right_yaw_rad, t.left_eye_x_m, t.right_eye_x_m,
                              yaw=t.yaw_rad, pitch=t.pitch_rad)
    assert np.all((depth > 0.3) & (depth < 1.0))  # the wearer looks at something ~0.5 m away


def test_real_gen1_v3_file_derives_the_combined_yaw():
    raw = pd.read_csv(real(*REAL["gen1_v3"]))
    assert "yaw_rads_cpf" not in raw.columns
    gaze = read_mps_eye_gaze(real(*REAL["gen1_v3"]))
    assert gaze.layout == "gen1_v3"
    t = gaze.table
    assert len(t) == 123 and t.tracking_timestamp_us.iloc[0] == 148502622
    assert t.left_yaw_rad.iloc[0] == 0.801510214805603 and t.right_yaw_rad.iloc[0] == 0.7736955881118774
    # eyes symmetric about the CPF origin: atan of the mean tangent
    expected = np.arctan((np.tan(raw.left_yaw_rads_cpf) + np.tan(raw.right_yaw_rads_cpf)) / 2)
    np.testing.assert_allclose(t.yaw_rad, expected, atol=1e-12)
    np.testing.assert_array_equal(t.pitch_rad, raw.pitch_rads_cpf)
    np.testing.assert_array_equal(t.left_pitch_rad, raw.pitch_rads_cpf)  # one pitch for both eyes
    np.testing.assert_array_equal(t.right_pitch_rad, raw.pitch_rads_cpf)
    assert t.depth_m.iloc[0] == 1.598123690675182 and t.depth_m.max() == 4.0  # capped at 4 m
    assert np.allclose(t.left_eye_x_m, 0.0315) and np.allclose(t.right_eye_x_m, -0.0315)
    # the combined yaw lies between the two eyes' yaws
    low = np.minimum(t.left_yaw_rad, t.right_yaw_rad)
    high = np.maximum(t.left_yaw_rad, t.right_yaw_rad)
    assert ((t.yaw_rad >= low - 1e-12) & (t.yaw_rad <= high + 1e-12)).all()


@pytest.mark.parametrize("parts", ALL_REAL, ids=[*REAL, "gen1_v2-aea"])
def test_yaw_and_pitch_match_projectaria_tools(parts):
    """Every row of every real layout: our yaw/pitch against projectaria-tools' reader (its
    EyeGaze yaw/pitch, float32) to 1e-4 rad; measured: 1.1e-7 rad at most (gen1_v3)."""
    mps = pytest.importorskip("projectaria_tools.core.mps")
    path = real(*parts)
    ours = read_mps_eye_gaze(path).table
    theirs = mps.read_eyegaze(str(path))
    assert len(theirs) == len(ours)
    ts = np.array([int(g.tracking_timestamp.total_seconds() * 1e6 + 0.5) for g in theirs])
    np.testing.assert_array_equal(ts, ours.tracking_timestamp_us)
    yaw = np.array([g.yaw for g in theirs], dtype=np.float64)
    pitch = np.array([g.pitch for g in theirs], dtype=np.float64)
    assert np.abs(yaw - ours.yaw_rad).max() < 1e-4
    assert np.abs(pitch - ours.pitch_rad).max() < 1e-4
    # the gazed-at point at 1 m: the same direction as projectaria-tools' helper
    theirs_points = np.array([np.ravel(mps.get_eyegaze_point_at_depth(y, p, 1.0)) for y, p in zip(yaw, pitch, strict=True)])
    ours_points = gaze_point_cpf(ours.yaw_rad, ours.pitch_rad, 1.0)
    assert np.abs(theirs_points - ours_points).max() < 1e-4


def test_gen1_v3_derivation_matches_projectaria_tools_helper():
    mps = pytest.importorskip("projectaria_tools.core.mps")
    t = read_mps_eye_gaze(real(*REAL["gen1_v3"])).table
    for row in t.itertuples():
        _, yaw, pitch = mps.compute_depth_and_combined_gaze_direction(row.left_yaw_rad, row.right_yaw_rad, row.pitch_rad)
        assert abs(yaw - row.yaw_rad) < 1e-4 and abs(pitch - row.pitch_rad) < 1e-4


# -- the derivation on its own --------------------------------------------------------------------


def test_vergence_combined_yaw_points_at_the_crossing():
    rng = np.random.default_rng(0)
    point = np.stack([rng.uniform(-0.8, 0.8, 50), rng.uniform(-0.3, 0.3, 50), rng.uniform(0.3, 3.0, 50)], axis=1)
    # asymmetric eyes, not on the x axis: the yaw of the crossing point seen from the CPF origin
    xl, zl, xr, zr = 0.030, 0.012, -0.034, 0.008
    left = np.arctan((point[:, 0] - xl) / (point[:, 2] - zl))
    right = np.arctan((point[:, 0] - xr) / (point[:, 2] - zr))
    derived = vergence_combined_yaw(left, right, xl, xr, zl, zr)
    np.testing.assert_allclose(derived, np.arctan2(point[:, 0], point[:, 2]), atol=1e-12)
    # parallel rays (gaze at infinity): the common yaw; eyes at one x: undefined
    assert vergence_combined_yaw(np.array([0.3]), np.array([0.3]), 0.0315, -0.0315)[0] == pytest.approx(0.3)
    assert np.isnan(vergence_combined_yaw(np.array([0.3]), np.array([0.2]), 0.0, 0.0)[0])


# -- writing --------------------------------------------------------------------------------------


def _table(n: int = 5) -> pd.DataFrame:
    """A canonical table whose per-eye yaws meet at the gazed point (eyes at ±3.25 cm)."""
    yaw, pitch, depth = np.linspace(-0.2, 0.2, n), np.linspace(0.1, -0.1, n), np.linspace(0.5, 2.0, n)
    point = gaze_point_cpf(yaw, pitch, depth)
    x, y, z = point.T
    return pd.DataFrame({
        "tracking_timestamp_us": np.arange(n, dtype=np.int64) * 33_333 + 10**9,
        "yaw_rad": yaw, "pitch_rad": pitch, "depth_m": depth,
        "left_yaw_rad": np.arctan((x - 0.0325) / z), "right_yaw_rad": np.arctan((x + 0.0325) / z),
        "left_pitch_rad": np.arctan(y / z), "right_pitch_rad": np.arctan(y / z),
        "left_eye_x_m": 0.0325, "left_eye_y_m": 0.0, "left_eye_z_m": 0.0,
        "right_eye_x_m": -0.0325, "right_eye_y_m": 0.0, "right_eye_z_m": 0.0,
    })


@pytest.mark.parametrize("layout", LAYOUTS)
def test_write_read_round_trip_with_the_real_header(tmp_path, layout):
    table = _table()
    path = tmp_path / "general_eye_gaze.csv"
    write_mps_eye_gaze(table, path, layout, session_uid="abc")
    # the first line is byte for byte the real file's (column order, CRLF for gen2)
    with real(*REAL[layout]).open("rb") as f:
        real_header = f.readline()
    data = path.read_bytes()
    assert data.split(b"\n", 1)[0] + b"\n" == real_header
    assert data.count(b"\r\n") == (len(table) + 1 if layout == "gen2" else 0)
    back = read_mps_eye_gaze(path)
    assert back.layout == layout
    t = back.table
    np.testing.assert_array_equal(t.tracking_timestamp_us, table.tracking_timestamp_us)
    np.testing.assert_allclose(t.yaw_rad, table.yaw_rad, atol=1e-12)  # gen1_v3: derived
    np.testing.assert_allclose(t.pitch_rad, table.pitch_rad, atol=1e-15)
    raw = pd.read_csv(path)
    if layout == "gen1_v3":
        assert "yaw_rads_cpf" not in raw.columns
    if layout in ("gen1_v2", "gen1_v3"):
        assert (raw.session_uid == "abc").all()
    if layout == "gen2":
        assert t.depth_m.isna().all()
        np.testing.assert_allclose(t.left_pitch_rad, table.left_pitch_rad, atol=1e-15)
    else:
        np.testing.assert_allclose(t.depth_m, table.depth_m, atol=1e-15)
    if layout in ("gen1_v3", "gen2"):
        np.testing.assert_allclose(t.left_yaw_rad, table.left_yaw_rad, atol=1e-15)
        np.testing.assert_allclose(t.right_eye_x_m, -0.0325)


def test_writer_refuses_unknown_layouts_and_missing_columns(tmp_path):
    with pytest.raises(ValueError, match="unknown MPS layout 'gen1_old'"):
        write_mps_eye_gaze(_table(), tmp_path / "g.csv", "gen1_old")
    with pytest.raises(ValueError, match="gen1_v3.*left_yaw_rad, right_yaw_rad"):
        write_mps_eye_gaze(_table()[["tracking_timestamp_us", "yaw_rad", "pitch_rad"]], tmp_path / "g.csv", "gen1_v3")


def test_personalized_file_reads_like_the_general_one(tmp_path):
    # MPS writes personalized_eye_gaze.csv (after an in-session calibration) in the same layouts.
    table = pd.DataFrame({"tracking_timestamp_us": [10, 20], "yaw_rad": [0.1, 0.2], "pitch_rad": [0.0, -0.1]})
    path = tmp_path / "mps" / "eye_gaze" / "personalized_eye_gaze.csv"
    write_mps_eye_gaze(table, path, "gen1_v2")
    gaze = read_mps_eye_gaze(path)
    assert gaze.layout == "gen1_v2" and gaze.table.yaw_rad.tolist() == [0.1, 0.2]
    assert gaze.table.depth_m.isna().all()


# -- detection ------------------------------------------------------------------------------------


def test_detect_layout_of_each_real_header_in_any_order():
    rng = np.random.default_rng(1)
    for layout, columns in LAYOUT_COLUMNS.items():
        assert detect_layout(columns) == layout
        shuffled = list(rng.permutation(columns))
        assert detect_layout([f" {c}\r" if i % 2 else f"{c} " for i, c in enumerate(shuffled)]) == layout
    # the minimum that can be read: timestamps, yaw and pitch (session_uid tells v2 from v1)
    assert detect_layout(["tracking_timestamp_us", "yaw_rads_cpf", "pitch_rads_cpf"]) == "gen1_v1"
    assert detect_layout(["tracking_timestamp_us", "yaw_rads_cpf", "pitch_rads_cpf", "session_uid"]) == "gen1_v2"
    # extra columns are ignored
    assert detect_layout([*LAYOUT_COLUMNS["gen2"], "note"]) == "gen2"


def test_spaces_and_crlf_in_a_file(tmp_path):
    path = tmp_path / "g.csv"
    path.write_bytes(b"tracking_timestamp_us, yaw_rads_cpf , pitch_rads_cpf\r\n1, 0.1, 0.2\r\n2, 0.3, 0.4\r\n")
    gaze = read_mps_eye_gaze(path)
    assert gaze.layout == "gen1_v1" and gaze.table.yaw_rad.tolist() == [0.1, 0.3]
    assert gaze.table.pitch_rad.tolist() == [0.2, 0.4]


def test_a_header_of_no_layout_names_the_closest_and_what_it_lacks(tmp_path):
    # a gen1_v3 file whose left-eye position columns were dropped
    columns = [c for c in LAYOUT_COLUMNS["gen1_v3"] if "left_eye" not in c]
    path = tmp_path / "general_eye_gaze.csv"
    path.write_text(",".join(columns) + "\n" + ",".join("1" if c != "session_uid" else "u" for c in columns) + "\n")
    with pytest.raises(InputError) as info:
        read_mps_eye_gaze(path)
    message = str(info.value)
    assert str(path) in message and "closest is 'gen1_v3'" in message
    assert "tx_left_eye_cpf, ty_left_eye_cpf, tz_left_eye_cpf" in message and "tx_right_eye_cpf" not in message
    assert "exactly as MPS delivered it" in message  # the fix


def test_not_gaze_at_all(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("time,x,y\n1,2,3\n")
    with pytest.raises(InputError, match=r"g\.csv: not a Project Aria MPS eye-gaze CSV.*closest is 'gen1_v1', which "
                       r"lacks column\(s\): tracking_timestamp_us, yaw_rads_cpf, pitch_rads_cpf"):
        read_mps_eye_gaze(path)


def test_empty_timestamp_row_is_named(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("tracking_timestamp_us,yaw_rads_cpf,pitch_rads_cpf\n1,0,0\n,0.1,0.1\n")
    with pytest.raises(InputError, match="row 3"):
        read_mps_eye_gaze(path)


def test_header_only_and_missing_file(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text(",".join(LAYOUT_COLUMNS["gen2"]) + "\r\n")
    with pytest.raises(InputError, match="a header but no samples"):
        read_mps_eye_gaze(path)
    with pytest.raises(InputError, match="eye-gaze CSV not found"):
        read_mps_eye_gaze(tmp_path / "absent.csv")

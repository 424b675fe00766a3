"""Read and write Project Aria MPS eye-gaze CSVs in the four layouts found in real recordings.

MPS delivers ``<mps>/eye_gaze/general_eye_gaze.csv`` (and ``personalized_eye_gaze.csv`` after
an in-session calibration; older deliveries call them ``generalized_eye_gaze.csv`` /
``calibrated_eye_gaze.csv``, the oldest ``eyegaze.csv``; finding them in an MPS folder is
:mod:`egoinstruct.gaze.mps_folder`'s job). The layout is detected from the header — the column
*names*, in any order, stripped of spaces (CRLF files are fine):

``gen1_v1``
    Gen 1, old model, first layout (``eyegaze.csv``): ``tracking_timestamp_us, yaw_rads_cpf,
    pitch_rads_cpf, depth_m``, yaw/pitch low/high bounds; no ``session_uid``.
``gen1_v2``
    Gen 1, old model, second layout (``general_eye_gaze.csv``, older ``generalized_eye_gaze.csv``):
    the same columns plus ``session_uid``; ``depth_m`` is often empty.
``gen1_v3``
    Gen 1, current model (MPS since March 2024; Meta's Gen 2 on-device exporter writes the same):
    per-eye yaw ``left_yaw_rads_cpf, right_yaw_rads_cpf``, one shared ``pitch_rads_cpf``,
    ``depth_m`` (capped at 4 m, empty when degenerate), per-eye bounds, the eye positions
    ``t[xyz]_{left,right}_eye_cpf`` (m) and ``session_uid``. **No combined yaw**: it is derived
    (:func:`vergence_combined_yaw`).
``gen2``
    Gen 2 MPS: combined ``yaw_rads_cpf, pitch_rads_cpf``, per-eye yaw and pitch and the eye
    positions; no depth, no ``session_uid``; delivered with CRLF line endings.

A header is read as the layout whose required columns (:data:`REQUIRED_COLUMNS`) it has; when
several qualify (every ``gen2`` header also has the ``gen1_v1`` ones), the one sharing most
columns with the real header wins, then the one with fewest of its columns absent. Extra
columns are ignored. A header that qualifies for none is an :class:`InputError` naming the file,
the closest layout (the real header sharing the largest fraction of columns with it) and the
required columns it lacks.

Whatever the layout, :func:`read_mps_eye_gaze` returns one canonical table (columns in
:data:`CANONICAL_COLUMNS`, absent values as NaN). For ``gen1_v3``, ``yaw_rad`` is the derived
combined yaw, ``pitch_rad`` the file's shared pitch, and ``left_pitch_rad``/``right_pitch_rad``
that shared pitch too. ``tracking_timestamp_us`` stays on the device's own capture clock; moving
it onto the session clock is the gaze stage's job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from egoinstruct.errors import InputError
from egoinstruct.gaze.mps_folder import EYE_GAZE_FILE_NAMES

_EYE_POSITIONS = [
    "tx_left_eye_cpf",
    "ty_left_eye_cpf",
    "tz_left_eye_cpf",
    "tx_right_eye_cpf",
    "ty_right_eye_cpf",
    "tz_right_eye_cpf",
]

# The real headers, in the order MPS writes them (copied from the files in shared/fixtures/real).
LAYOUT_COLUMNS: dict[str, list[str]] = {
    "gen1_v1": [
        "tracking_timestamp_us",
        "yaw_rads_cpf",
        "pitch_rads_cpf",
        "depth_m",
        "yaw_low_rads_cpf",
        "pitch_low_rads_cpf",
        "yaw_high_rads_cpf",
        "pitch_high_rads_cpf",
    ],
    "gen1_v2": [
        "tracking_timestamp_us",
        "yaw_rads_cpf",
        "pitch_rads_cpf",
        "yaw_low_rads_cpf",
        "pitch_low_rads_cpf",
        "yaw_high_rads_cpf",
        "pitch_high_rads_cpf",
        "depth_m",
        "session_uid",
    ],
    "gen1_v3": [
        "tracking_timestamp_us",
        "left_yaw_rads_cpf",
        "right_yaw_rads_cpf",
        "pitch_rads_cpf",
        "depth_m",
        "left_yaw_low_rads_cpf",
        "right_yaw_low_rads_cpf",
        "pitch_low_rads_cpf",
        "left_yaw_high_rads_cpf",
        "right_yaw_high_rads_cpf",
        "pitch_high_rads_cpf",
        *_EYE_POSITIONS,
        "session_uid",
    ],
    "gen2": [
        "tracking_timestamp_us",
        "yaw_rads_cpf",
        "pitch_rads_cpf",
        "left_yaw_rads_cpf",
        "right_yaw_rads_cpf",
        "left_pitch_rads_cpf",
        "right_pitch_rads_cpf",
        *_EYE_POSITIONS,
    ],
}
LAYOUTS = tuple(LAYOUT_COLUMNS)
LINE_ENDINGS = {"gen1_v1": "\n", "gen1_v2": "\n", "gen1_v3": "\n", "gen2": "\r\n"}

# Columns a file must have to be read as each layout (bounds, depth and session_uid are optional;
# gen1_v1 and gen1_v2 differ only by session_uid, which tells them apart).
REQUIRED_COLUMNS: dict[str, list[str]] = {
    "gen1_v1": ["tracking_timestamp_us", "yaw_rads_cpf", "pitch_rads_cpf"],
    "gen1_v2": ["tracking_timestamp_us", "yaw_rads_cpf", "pitch_rads_cpf", "session_uid"],
    "gen1_v3": [
        "tracking_timestamp_us",
        "left_yaw_rads_cpf",
        "right_yaw_rads_cpf",
        "pitch_rads_cpf",
        *_EYE_POSITIONS,
    ],
    "gen2": [
        "tracking_timestamp_us",
        "yaw_rads_cpf",
        "pitch_rads_cpf",
        "left_yaw_rads_cpf",
        "right_yaw_rads_cpf",
        "left_pitch_rads_cpf",
        "right_pitch_rads_cpf",
        *_EYE_POSITIONS,
    ],
}

# canonical name -> MPS column it comes from (where the layout has it)
_CANONICAL_SOURCE = {
    "yaw_rad": "yaw_rads_cpf",
    "pitch_rad": "pitch_rads_cpf",
    "depth_m": "depth_m",
    "left_yaw_rad": "left_yaw_rads_cpf",
    "right_yaw_rad": "right_yaw_rads_cpf",
    "left_pitch_rad": "left_pitch_rads_cpf",
    "right_pitch_rad": "right_pitch_rads_cpf",
    "left_eye_x_m": "tx_left_eye_cpf",
    "left_eye_y_m": "ty_left_eye_cpf",
    "left_eye_z_m": "tz_left_eye_cpf",
    "right_eye_x_m": "tx_right_eye_cpf",
    "right_eye_y_m": "ty_right_eye_cpf",
    "right_eye_z_m": "tz_right_eye_cpf",
}
CANONICAL_COLUMNS = ["tracking_timestamp_us", *_CANONICAL_SOURCE]

# Every file name MPS has used for an eye-gaze CSV (search order: egoinstruct.gaze.mps_folder).
GAZE_CSV_NAMES = EYE_GAZE_FILE_NAMES


@dataclass
class EyeGaze:
    """An MPS eye-gaze file read into the canonical table."""

    path: Path
    layout: str
    table: pd.DataFrame


def _clean_name(column: object) -> str:
    return str(column).strip().lstrip("\ufeff").strip()


def detect_layout(columns: list[str], path: str | Path = "<csv>") -> str:
    """Name the MPS layout of a header (see the module docstring), or raise an
    :class:`InputError` naming the closest layout and the columns it lacks."""
    cols = {_clean_name(c) for c in columns}
    missing = {name: [c for c in REQUIRED_COLUMNS[name] if c not in cols] for name in LAYOUTS}
    shared = {name: sum(c in cols for c in LAYOUT_COLUMNS[name]) for name in LAYOUTS}
    absent = {name: len(LAYOUT_COLUMNS[name]) - shared[name] for name in LAYOUTS}
    candidates = [name for name in LAYOUTS if not missing[name]]
    if candidates:
        return max(candidates, key=lambda name: (shared[name], -absent[name]))
    # closest: the most similar real header (shared columns over all columns of both), then the
    # one missing fewest required columns
    similarity = {name: shared[name] / len(cols | set(LAYOUT_COLUMNS[name])) for name in LAYOUTS}
    closest = min(LAYOUTS, key=lambda name: (-similarity[name], len(missing[name])))
    raise InputError(
        f"{path}: not a Project Aria MPS eye-gaze CSV: its header fits none of the MPS layouts "
        f"({', '.join(LAYOUTS)}); the closest is {closest!r}, which lacks column(s): "
        f"{', '.join(missing[closest])}. Give the eye-gaze CSV exactly as MPS delivered it "
        "(<mps>/eye_gaze/general_eye_gaze.csv or personalized_eye_gaze.csv, columns neither renamed "
        "nor dropped); see docs/data_contracts.md, 'Eye gaze input'."
    )


def vergence_combined_yaw(
    left_yaw: np.ndarray,
    right_yaw: np.ndarray,
    left_eye_x_m: np.ndarray | float,
    right_eye_x_m: np.ndarray | float,
    left_eye_z_m: np.ndarray | float = 0.0,
    right_eye_z_m: np.ndarray | float = 0.0,
) -> np.ndarray:
    """Combined gaze yaw (rad, CPF) of the vergence model: the direction, seen from the CPF
    origin, of the point where the two eyes' gaze rays cross in the x-z plane.

    Each eye at ``(x_e, z_e)`` looks along ``x = x_e + (z − z_e)·tan(yaw_e)``. The rays cross at
    ``z_c = n / d`` with ``n = x_r − x_l + z_l·tan(yaw_l) − z_r·tan(yaw_r)`` and
    ``d = tan(yaw_l) − tan(yaw_r)``, and ``x_c = x_l + (z_c − z_l)·tan(yaw_l)``; the combined yaw
    is ``atan(x_c / z_c) = atan(tan(yaw_l) + (x_l − z_l·tan(yaw_l))·d / n)``. That form has no
    pole for parallel rays (``d = 0`` gives the common yaw). With the eyes symmetric about the CPF
    origin on its x axis — every real file — it is ``atan((tan(yaw_l) + tan(yaw_r)) / 2)``, what
    projectaria-tools' reader computes for this layout (its fixed 63 mm IPD cancels out), and it
    does not matter whether the rays cross in front of the wearer or behind. NaN where the eye
    positions make ``n = 0``.
    """
    tl = np.tan(np.asarray(left_yaw, dtype=np.float64))
    tr = np.tan(np.asarray(right_yaw, dtype=np.float64))
    xl, xr = np.asarray(left_eye_x_m, dtype=np.float64), np.asarray(right_eye_x_m, dtype=np.float64)
    zl, zr = np.asarray(left_eye_z_m, dtype=np.float64), np.asarray(right_eye_z_m, dtype=np.float64)
    n = xr - xl + zl * tl - zr * tr
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = tl + (xl - zl * tl) * (tl - tr) / n
    return np.where(n != 0, np.arctan(ratio), np.nan)


def read_mps_eye_gaze(path: str | Path) -> EyeGaze:
    """Read an MPS eye-gaze CSV of any layout into the canonical table.

    Numeric fields that are empty (``depth_m`` in older files) become NaN. Rows are returned as
    they are in the file; dropping NaN rows and ordering timestamps is left to the caller.
    """
    path = Path(path)
    try:
        header = pd.read_csv(path, nrows=0).columns.tolist()
    except FileNotFoundError as exc:
        raise InputError(f"{path}: eye-gaze CSV not found; check the path in the sample sheet") from exc
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot parse as CSV ({exc})") from exc
    layout = detect_layout(header, path)
    try:
        raw = pd.read_csv(path, skipinitialspace=True)
    except pd.errors.ParserError as exc:
        # pandas names the line ("Expected 16 fields in line 7, saw 17"): keep that, name the file
        raise InputError(
            f"{path}: malformed CSV ({str(exc).strip()}); every row must have the header's {len(header)} fields — the file "
            "was cut or edited by hand: restore it from the MPS delivery"
        ) from None
    raw.columns = [_clean_name(c) for c in raw.columns]
    if raw.empty:
        raise InputError(
            f"{path}: the eye-gaze CSV has a header but no samples; MPS wrote nothing for this recording, "
            "or the copy is incomplete — re-download it, or remove the device's gaze_csv row"
        )
    out = pd.DataFrame(index=raw.index)
    timestamps = pd.to_numeric(raw["tracking_timestamp_us"], errors="coerce")
    if timestamps.isna().any():
        row = int(timestamps.isna().to_numpy().nonzero()[0][0]) + 2  # 1-based, after header
        raise InputError(
            f"{path}: row {row}: tracking_timestamp_us is empty or not a number; every sample "
            "needs the device capture time in microseconds"
        )
    out["tracking_timestamp_us"] = timestamps.astype("int64")
    layout_columns = set(LAYOUT_COLUMNS[layout])
    for canonical, source in _CANONICAL_SOURCE.items():
        if source in layout_columns and source in raw.columns:
            out[canonical] = pd.to_numeric(raw[source], errors="coerce").astype("float64")
        else:
            out[canonical] = np.nan
    if layout == "gen1_v3":
        # no combined yaw in this layout (a yaw_rads_cpf column, in no real file, is ignored)
        out["yaw_rad"] = vergence_combined_yaw(
            out["left_yaw_rad"].to_numpy(),
            out["right_yaw_rad"].to_numpy(),
            out["left_eye_x_m"].to_numpy(),
            out["right_eye_x_m"].to_numpy(),
            out["left_eye_z_m"].to_numpy(),
            out["right_eye_z_m"].to_numpy(),
        )
        out["left_pitch_rad"] = out["pitch_rad"]  # one pitch for both eyes
        out["right_pitch_rad"] = out["pitch_rad"]
    return EyeGaze(path=path, layout=layout, table=out[CANONICAL_COLUMNS])


# canonical columns each layout needs to be written (the rest of its header may be empty)
_WRITE_NEEDS = {
    "gen1_v1": ["yaw_rad", "pitch_rad"],
    "gen1_v2": ["yaw_rad", "pitch_rad"],
    "gen1_v3": ["left_yaw_rad", "right_yaw_rad", "pitch_rad", "left_eye_x_m", "right_eye_x_m"],
    "gen2": ["yaw_rad", "pitch_rad", "left_yaw_rad", "right_yaw_rad", "left_eye_x_m", "right_eye_x_m"],
}


def write_mps_eye_gaze(
    table: pd.DataFrame, path: str | Path, layout: str, session_uid: str = ""
) -> None:
    """Write a canonical gaze table as an MPS CSV of ``layout`` (the demo generator uses this).

    The header is the real one of that layout, in MPS's column order; ``gen2`` files get CRLF
    line endings as delivered. Columns of the layout that the table lacks are written empty
    (``gen1_v3`` drops ``yaw_rad``: real files carry no combined yaw). Uncertainty bounds, which
    MPS reports and nothing here uses, are written as ±0.02 rad.
    """
    if layout not in LAYOUT_COLUMNS:
        raise ValueError(f"unknown MPS layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    lacking = [c for c in _WRITE_NEEDS[layout] if c not in table]
    if lacking:
        raise ValueError(f"writing MPS layout {layout!r} needs the canonical column(s) {', '.join(lacking)}")
    src = {mps: table[canonical] for canonical, mps in _CANONICAL_SOURCE.items() if canonical in table}
    src["tracking_timestamp_us"] = table["tracking_timestamp_us"].astype("int64")
    bound = 0.02
    for prefix in ("", "left_", "right_"):
        for angle in ("yaw", "pitch"):
            value = src.get(f"{prefix}{angle}_rads_cpf")
            if value is not None:
                src[f"{prefix}{angle}_low_rads_cpf"] = value - bound
                src[f"{prefix}{angle}_high_rads_cpf"] = value + bound
    src["session_uid"] = pd.Series(session_uid, index=table.index)
    frame = pd.DataFrame({col: src.get(col, np.nan) for col in LAYOUT_COLUMNS[layout]})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, lineterminator=LINE_ENDINGS[layout])

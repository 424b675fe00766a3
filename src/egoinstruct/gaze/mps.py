"""Read and write Project Aria MPS eye-gaze CSVs in all three layouts found in real recordings.

MPS delivers ``mps/eye_gaze/general_eye_gaze.csv`` (and ``personalized_eye_gaze.csv`` after an
in-session calibration; the oldest files are called ``generalized_eye_gaze.csv``). The layout is
detected from the header:

``gen1_old``
    ``tracking_timestamp_us, yaw_rads_cpf, pitch_rads_cpf, yaw/pitch low/high bounds, depth_m,
    session_uid`` (``depth_m`` often empty).
``gen1_new``
    the same plus per-eye yaw (``left_yaw_rads_cpf``, ``right_yaw_rads_cpf``) with their bounds and
    the eye positions ``t[xyz]_{left,right}_eye_cpf`` (metres).
``gen2``
    ``tracking_timestamp_us, yaw_rads_cpf, pitch_rads_cpf``, per-eye yaw and pitch and the eye
    positions; no depth, no session_uid.

Whatever the layout, :func:`read_mps_eye_gaze` returns one canonical table (columns in
:data:`CANONICAL_COLUMNS`, absent values as NaN). ``tracking_timestamp_us`` stays on the
device's own capture clock; moving it onto the session clock is the gaze stage's job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from egoinstruct.errors import InputError

_EYE_POSITIONS = [
    "tx_left_eye_cpf",
    "ty_left_eye_cpf",
    "tz_left_eye_cpf",
    "tx_right_eye_cpf",
    "ty_right_eye_cpf",
    "tz_right_eye_cpf",
]

LAYOUT_COLUMNS: dict[str, list[str]] = {
    "gen1_old": [
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
    "gen1_new": [
        "tracking_timestamp_us",
        "yaw_rads_cpf",
        "pitch_rads_cpf",
        "yaw_low_rads_cpf",
        "pitch_low_rads_cpf",
        "yaw_high_rads_cpf",
        "pitch_high_rads_cpf",
        "left_yaw_rads_cpf",
        "right_yaw_rads_cpf",
        "left_yaw_low_rads_cpf",
        "right_yaw_low_rads_cpf",
        "left_yaw_high_rads_cpf",
        "right_yaw_high_rads_cpf",
        "depth_m",
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

# Columns a file must have to be read as each layout (bounds and session_uid are optional).
_REQUIRED: dict[str, list[str]] = {
    "gen1_old": ["tracking_timestamp_us", "yaw_rads_cpf", "pitch_rads_cpf"],
    "gen1_new": [
        "tracking_timestamp_us",
        "yaw_rads_cpf",
        "pitch_rads_cpf",
        "left_yaw_rads_cpf",
        "right_yaw_rads_cpf",
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

# canonical name -> MPS column it comes from
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

GAZE_CSV_NAMES = ("general_eye_gaze.csv", "personalized_eye_gaze.csv", "generalized_eye_gaze.csv")


@dataclass
class EyeGaze:
    """An MPS eye-gaze file read into the canonical table."""

    path: Path
    layout: str
    table: pd.DataFrame


def detect_layout(columns: list[str], path: str | Path = "<csv>") -> str:
    """Name the MPS layout of a header, or raise an error that lists what is missing."""
    cols = {c.strip() for c in columns}
    if "tx_left_eye_cpf" in cols or "left_yaw_rads_cpf" in cols:
        # Per-eye data: gen2 has per-eye pitch and no session_uid; gen1_new keeps session_uid.
        layout = "gen2" if "left_pitch_rads_cpf" in cols and "session_uid" not in cols else "gen1_new"
    else:
        layout = "gen1_old"
    missing = [c for c in _REQUIRED[layout] if c not in cols]
    if missing:
        raise InputError(
            f"{path}: not a Project Aria MPS eye-gaze CSV (closest layout {layout!r}); "
            f"missing column(s): {', '.join(missing)}. Expected the header of "
            "general_eye_gaze.csv / personalized_eye_gaze.csv as written by MPS "
            "(see docs/data_contracts.md, 'Eye gaze input')."
        )
    return layout


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
    raw.columns = [c.strip() for c in raw.columns]
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
    for canonical, source in _CANONICAL_SOURCE.items():
        if source in raw.columns:
            out[canonical] = pd.to_numeric(raw[source], errors="coerce").astype("float64")
        else:
            out[canonical] = np.nan
    return EyeGaze(path=path, layout=layout, table=out[CANONICAL_COLUMNS])


def write_mps_eye_gaze(
    table: pd.DataFrame, path: str | Path, layout: str, session_uid: str = ""
) -> None:
    """Write a canonical gaze table as an MPS CSV of ``layout`` (the demo generator uses this).

    Uncertainty bounds, which MPS reports and nothing here uses, are written as ±0.02 rad.
    """
    if layout not in LAYOUT_COLUMNS:
        raise ValueError(f"unknown MPS layout {layout!r}; expected one of {sorted(LAYOUT_COLUMNS)}")
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
    frame.to_csv(path, index=False, float_format="%.9g")

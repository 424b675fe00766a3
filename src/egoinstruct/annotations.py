"""Ground-truth annotations: read CSV/TSV or ELAN ``.eaf`` into one segment table, and check it.

Segment table columns (session clock, seconds): ``session, tier, t_start, t_end, label``, tiers
``steps`` and ``states``, sorted by tier then time. CSV/TSV files may hold several sessions (only
the asked-for session's rows are used); an ELAN file holds one session, named by the annotation
sheet, with the tiers named in ``annotation_checks.eaf_tiers``.

:func:`check_segments` enforces what every later stage assumes: known labels, ``t_start <
t_end``, segments inside the recording, no overlaps inside a tier, and no gaps unless allowed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd

from egoinstruct.config import describe_validation_error, load_schema
from egoinstruct.errors import InputError
from egoinstruct.labels import load_labels
from egoinstruct.tasks import TASK_NAMES, TASKS

SEGMENT_COLUMNS = ["session", "tier", "t_start", "t_end", "label"]
# Float noise from annotation tools: touching segments may differ by up to a millisecond.
_TIME_EPS = 1e-3


def read_segments(
    path: str | Path, session: str, eaf_tiers: dict[str, str] | None = None
) -> pd.DataFrame:
    """The segments of ``session`` in ``path`` (CSV, TSV or EAF), as the segment table."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".eaf":
        table = _read_eaf(path, session, eaf_tiers or {t: t for t in TASK_NAMES})
    elif suffix in (".csv", ".tsv"):
        table = _read_delimited(path, session, "\t" if suffix == ".tsv" else ",")
    else:
        raise InputError(f"{path}: unknown annotation format {suffix!r}; use .csv, .tsv or .eaf")
    table["source"] = str(path)
    return table.sort_values(["tier", "t_start", "t_end"], kind="stable").reset_index(drop=True)


def read_session_segments(
    paths: list[str | Path], session: str, eaf_tiers: dict[str, str] | None = None
) -> pd.DataFrame:
    """The segments of ``session`` from all its annotation files together (an empty segment
    table when there are none)."""
    frames = [read_segments(path, session, eaf_tiers) for path in paths]
    if not frames:
        return pd.DataFrame(columns=[*SEGMENT_COLUMNS, "source", "source_line"])
    return pd.concat(frames, ignore_index=True)


def write_validated(segments: pd.DataFrame, path: str | Path, metadata: Mapping[str, str]) -> None:
    """Write a session's checked segment table (the validate stage's ``annotations.parquet``)."""
    from egoinstruct.gaze.parquet import write_frame
    from egoinstruct.tables import ANNOTATIONS_SCHEMA

    table = segments.reindex(columns=ANNOTATIONS_SCHEMA.names).astype(
        {"session": str, "tier": str, "label": str, "source": str, "source_line": str, "t_start": float, "t_end": float})
    write_frame(table, ANNOTATIONS_SCHEMA, path, dict(metadata))


def read_validated(path: str | Path) -> pd.DataFrame:
    """A session's validated segment table (``annotations.parquet``), as :func:`read_segments` gives."""
    from egoinstruct.tables import read_table

    return read_table(path, "annotations").to_pandas()


def labels_at_times(segments: pd.DataFrame, times: np.ndarray) -> list[str | None]:
    """Label of the segment containing each time (``t_start <= t < t_end``; the first such
    segment in table order), None outside every segment. Pass one tier's segments."""
    starts = segments.t_start.to_numpy(float)
    ends = segments.t_end.to_numpy(float)
    labels = segments.label.tolist()
    out: list[str | None] = []
    for t in times:
        hit = np.flatnonzero((starts <= t) & (t < ends))
        out.append(labels[hit[0]] if len(hit) else None)
    return out


def _read_delimited(path: Path, session: str, sep: str) -> pd.DataFrame:
    try:
        raw = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except FileNotFoundError as exc:
        raise InputError(f"{path}: annotation file not found; fix its path in the annotation sheet") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot parse annotations: {exc}") from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in SEGMENT_COLUMNS if c not in raw.columns]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)}; annotation files need the header "
            f"{('tab' if sep == chr(9) else 'comma')}-separated: {', '.join(SEGMENT_COLUMNS)}"
        )
    raw = raw[SEGMENT_COLUMNS].apply(lambda col: col.str.strip())
    raw["line"] = np.arange(2, len(raw) + 2)
    raw = raw[raw.session == session]
    if raw.empty:
        raise InputError(
            f"{path}: no rows for session {session}; the session column must name it exactly as "
            "the sample sheet does"
        )
    validator = jsonschema.Draft202012Validator(load_schema("segments"))
    records = []
    for row in raw.itertuples(index=False):
        record = {"session": row.session, "tier": row.tier, "label": row.label}
        for column in ("t_start", "t_end"):
            value = getattr(row, column)
            try:
                record[column] = float(value)
            except ValueError:
                raise InputError(
                    f"{path}: line {row.line}, column {column} = {value!r}: not a time; write "
                    "seconds on the session clock as a decimal number"
                ) from None
        error = next(iter(validator.iter_errors(record)), None)
        if error is not None:
            raise InputError(f"{path}: line {row.line}: {describe_validation_error(error)}")
        records.append({**record, "source_line": int(row.line)})
    return pd.DataFrame.from_records(records, columns=[*SEGMENT_COLUMNS, "source_line"])


def _read_eaf(path: Path, session: str, eaf_tiers: dict[str, str]) -> pd.DataFrame:
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError as exc:
        raise InputError(f"{path}: annotation file not found; fix its path in the annotation sheet") from exc
    except ET.ParseError as exc:
        raise InputError(f"{path}: not a readable ELAN file (XML error: {exc})") from exc
    slots: dict[str, float] = {}
    for slot in root.iter("TIME_SLOT"):
        value = slot.get("TIME_VALUE")
        if value is None:
            continue
        try:
            milliseconds = float(value)  # ELAN writes whole milliseconds; other tools decimals
        except ValueError:
            raise InputError(
                f"{path}: TIME_SLOT {slot.get('TIME_SLOT_ID', '?')}: TIME_VALUE {value!r} is not a time; ELAN "
                "time values are milliseconds (e.g. 1500) — fix or re-export the file from ELAN"
            ) from None
        slots[slot.get("TIME_SLOT_ID", "")] = milliseconds / 1000.0
    tiers = {tier.get("TIER_ID"): tier for tier in root.iter("TIER")}
    records = []
    for tier_name, tier_id in eaf_tiers.items():
        tier = tiers.get(tier_id)
        if tier is None:
            raise InputError(
                f"{path}: no ELAN tier {tier_id!r} for the {tier_name} tier (tiers present: "
                f"{', '.join(sorted(t for t in tiers if t))}); rename the tier or set "
                f"annotation_checks.eaf_tiers.{tier_name} in config/config.yaml"
            )
        for annotation in tier.iter("ALIGNABLE_ANNOTATION"):
            ref1, ref2 = annotation.get("TIME_SLOT_REF1"), annotation.get("TIME_SLOT_REF2")
            ident = annotation.get("ANNOTATION_ID", "?")
            if ref1 not in slots or ref2 not in slots:
                raise InputError(
                    f"{path}: annotation {ident} in tier {tier_id!r} refers to a time slot without "
                    "a time value; time-align it in ELAN"
                )
            value = annotation.findtext("ANNOTATION_VALUE", default="").strip()
            records.append(
                {
                    "session": session,
                    "tier": tier_name,
                    "t_start": slots[ref1],
                    "t_end": slots[ref2],
                    "label": value,
                    "source_line": ident,
                }
            )
    return pd.DataFrame.from_records(records, columns=[*SEGMENT_COLUMNS, "source_line"])


def check_segments(
    segments: pd.DataFrame,
    source: str | Path,
    labels_dir: str | Path,
    procedure: str,
    recording_duration_s: float | None,
    allow_gaps: bool = False,
    end_tolerance_s: float = 0.5,
) -> list[str]:
    """Raise :class:`InputError` on the first hard problem; return warnings (allowed gaps)."""
    warnings: list[str] = []
    for tier, task in TASKS.items():
        labels = load_labels(labels_dir, tier, procedure if task.per_procedure else None)
        rows = segments[segments.tier == tier]
        if rows.empty:
            raise InputError(f"{source}: no segments in tier {tier}; annotate every tier ({', '.join(TASK_NAMES)})")
        for row in rows.itertuples():
            where = f"{source}: {_where(row.source_line)} (tier {tier}, {row.t_start:g}–{row.t_end:g} s)"
            if row.label not in labels:
                raise InputError(
                    f"{where}: unknown label {row.label!r}; known labels in {labels.path}: "
                    f"{', '.join(labels.labels)}"
                )
            if not row.t_end > row.t_start:
                raise InputError(f"{where}: t_end must be after t_start")
            if recording_duration_s is not None and row.t_end > recording_duration_s + end_tolerance_s:
                raise InputError(
                    f"{where}: ends after the reference recording ({recording_duration_s:.3f} s "
                    "on the session clock); the video is shorter than its annotations — check "
                    "that the annotation belongs to this session and uses the session clock"
                )
        ordered = rows.sort_values("t_start")
        ends = ordered.t_end.to_numpy()[:-1]
        starts = ordered.t_start.to_numpy()[1:]
        for i in np.flatnonzero(starts < ends - _TIME_EPS):
            a, b = ordered.iloc[i], ordered.iloc[i + 1]
            raise InputError(
                f"{source}: {_where(b.source_line)} (tier {tier}, {b.label} from {b.t_start:g} s) "
                f"overlaps {_where(a.source_line)} ({a.label} until {a.t_end:g} s); segments of "
                "one tier must not overlap"
            )
        for i in np.flatnonzero(starts > ends + _TIME_EPS):
            a, b = ordered.iloc[i], ordered.iloc[i + 1]
            message = (
                f"{source}: gap in tier {tier} from {a.t_end:g} s to {b.t_start:g} s (before "
                f"{_where(b.source_line)})"
            )
            if not allow_gaps:
                raise InputError(
                    f"{message}; label every instant (use 'background' for steps) or set "
                    "annotation_checks.allow_gaps: true"
                )
            warnings.append(message)
    return warnings


def _where(source_line: object) -> str:
    return f"line {source_line}" if isinstance(source_line, int | np.integer) else f"annotation {source_line}"

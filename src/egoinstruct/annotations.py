"""Ground-truth annotations: read CSV/TSV or ELAN ``.eaf`` into one segment table, and check it.

Segment table columns (session clock, seconds): ``session, tier, t_start, t_end, label``, tiers
``steps`` and ``states``, sorted by tier then time. CSV/TSV files may hold several sessions (only
the asked-for session's rows are used); an ELAN file holds one session, named by the annotation
sheet, with the tiers named in ``annotation_checks.eaf_tiers``, read through pympi-ling
(dependent tiers, ``TIME_ORIGIN``: :mod:`egoinstruct.importers.elan`).

A session labels one task or several (the annotation sheet's ``tasks`` column). :func:`check_segments`
enforces what every later stage assumes for each of them: known labels, ``t_start < t_end``,
segments inside the recording, no overlaps inside a tier, and unlabelled time handled as
``annotation_checks.gaps`` says per task — ``error`` (a gap between segments stops validation),
``ignore`` (gaps stay unlabelled: neither trained on nor scored; time before the first and after
the last segment is always treated so) or ``fill`` (every unlabelled instant from 0 to the end of
the recording becomes a segment of ``fill_label``, e.g. ``background`` for steps).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd

from egoinstruct.config import describe_validation_error, load_schema
from egoinstruct.errors import InputError
from egoinstruct.labels import LabelSet, load_labels
from egoinstruct.settings.validation import GapPolicy
from egoinstruct.tasks import TASK_NAMES, get_task

SEGMENT_COLUMNS = ["session", "tier", "t_start", "t_end", "label"]
# Float noise from annotation tools: touching segments may differ by up to a millisecond.
_TIME_EPS = 1e-3


def read_segments(
    path: str | Path, session: str, eaf_tiers: Mapping[str, str] | None = None,
    tasks: Sequence[str] = TASK_NAMES,
) -> pd.DataFrame:
    """The segments of ``session`` in ``path`` (CSV, TSV or EAF), as the segment table. From an
    ELAN file only the tiers of ``tasks`` are read (other tiers are any ELAN document's business)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".eaf":
        tiers = eaf_tiers or {t: t for t in TASK_NAMES}
        table = _read_eaf(path, session, {task: tiers[task] for task in tasks})
    elif suffix in (".csv", ".tsv"):
        table = _read_delimited(path, session, "\t" if suffix == ".tsv" else ",")
    else:
        raise InputError(f"{path}: unknown annotation format {suffix!r}; use .csv, .tsv or .eaf")
    table["source"] = str(path)
    return table.sort_values(["tier", "t_start", "t_end"], kind="stable").reset_index(drop=True)


def read_session_segments(
    paths: list[str | Path], session: str, eaf_tiers: Mapping[str, str] | None = None,
    tasks: Sequence[Sequence[str]] | None = None,
) -> pd.DataFrame:
    """The segments of ``session`` from all its annotation files together (an empty segment
    table when there are none). ``tasks``: per file, the tasks it labels (default: every task)."""
    per_file = tasks if tasks is not None else [TASK_NAMES] * len(paths)
    frames = [
        read_segments(path, session, eaf_tiers, names)
        for path, names in zip(paths, per_file, strict=True)
    ]
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


def _read_eaf(path: Path, session: str, eaf_tiers: Mapping[str, str]) -> pd.DataFrame:
    """The tiers named in ``eaf_tiers`` (task -> ELAN TIER_ID) through pympi-ling: dependent tiers
    whose boundaries were never aligned get interpolated times and the media's ``TIME_ORIGIN`` is
    added (egoinstruct.importers.elan); rows are annotation ids."""
    from egoinstruct.importers.elan import read_eaf_annotations

    if not path.is_file():
        raise InputError(f"{path}: annotation file not found; fix its path in the annotation sheet")
    tiers = read_eaf_annotations(path, _eaf_time_values(path))
    records = []
    for tier_name, tier_id in eaf_tiers.items():
        if tier_id not in tiers:
            raise InputError(
                f"{path}: no ELAN tier {tier_id!r} for the {tier_name} tier (tiers present: "
                f"{', '.join(sorted(t for t in tiers if t))}); rename the tier, set "
                f"annotation_checks.eaf_tiers.{tier_name} in config/config.yaml, or leave {tier_name} "
                "out of the annotation sheet's tasks column for this file"
            )
        for ident, start, end, value in tiers[tier_id]:
            records.append(
                {"session": session, "tier": tier_name, "t_start": start, "t_end": end,
                 "label": value.strip(), "source_line": ident}
            )
    return pd.DataFrame.from_records(records, columns=[*SEGMENT_COLUMNS, "source_line"])


def _eaf_time_values(path: Path) -> dict[str, float | None]:
    """Every TIME_SLOT's value in ms. ELAN writes whole milliseconds, other tools decimals (which
    pympi-ling cannot read); anything else is an error naming the slot."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InputError(f"{path}: not a readable ELAN file (XML error: {exc})") from exc
    values: dict[str, float | None] = {}
    for slot in root.iter("TIME_SLOT"):
        value = slot.get("TIME_VALUE")
        try:
            values[slot.get("TIME_SLOT_ID", "")] = None if value is None else float(value)
        except ValueError:
            raise InputError(
                f"{path}: TIME_SLOT {slot.get('TIME_SLOT_ID', '?')}: TIME_VALUE {value!r} is not a time; ELAN "
                "time values are milliseconds (e.g. 1500) — fix or re-export the file from ELAN"
            ) from None
    return values


def check_segments(
    segments: pd.DataFrame,
    source: str | Path,
    labels_dir: str | Path,
    procedure: str | None,
    recording_duration_s: float | None,
    tasks: Sequence[str] = TASK_NAMES,
    gaps: Mapping[str, GapPolicy] | None = None,
    end_tolerance_s: float = 0.5,
) -> tuple[pd.DataFrame, list[str]]:
    """Check a session's segments for ``tasks`` (the tasks its annotation sheet rows name): raise
    :class:`InputError` on the first hard problem; return the segments every later stage reads
    (tiers of other tasks left out, gaps filled where ``gaps`` says so) and the warnings.

    ``gaps``: task -> what unlabelled time is (module docstring); absent tasks: an error.
    """
    gaps = gaps or {}
    warnings: list[str] = []
    if not tasks:
        raise InputError(f"{source}: the annotation sheet names no task for this session; list {', '.join(TASK_NAMES)}")
    others = sorted(set(segments.tier) - set(tasks))
    for tier in others:
        warnings.append(
            f"{source}: tier {tier} left out ({int((segments.tier == tier).sum())} segments): the annotation "
            f"sheet's tasks column lists {', '.join(tasks)} for this session"
        )
    checked = []
    for tier in tasks:
        task = get_task(tier, f"{source}: tasks")
        labels = load_labels(labels_dir, tier, procedure if task.per_procedure else None)
        rows = segments[segments.tier == tier]
        if rows.empty:
            raise InputError(
                f"{source}: no segments in tier {tier}; annotate it, or leave {tier} out of the annotation "
                "sheet's tasks column for this session (a session may label one task)"
            )
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
        policy = gaps.get(tier)
        checked.append(ordered)
        between = [
            (ordered.iloc[i], ordered.iloc[i + 1]) for i in np.flatnonzero(starts > ends + _TIME_EPS)
        ]
        if policy is None or policy.policy == "error":
            for a, b in between:
                raise InputError(
                    f"{source}: gap in tier {tier} from {a.t_end:g} s to {b.t_start:g} s (before "
                    f"{_where(b.source_line)}); label every instant (use 'background' for steps) or set "
                    f"annotation_checks.gaps.{tier}.policy to ignore or fill"
                )
        elif policy.policy == "ignore":
            warnings += [
                f"{source}: gap in tier {tier} from {a.t_end:g} s to {b.t_start:g} s (before "
                f"{_where(b.source_line)}): not trained on or scored (annotation_checks.gaps.{tier}: ignore)"
                for a, b in between
            ]
        else:
            filled = _fill_gaps(ordered, tier, policy, labels, recording_duration_s)
            if len(filled):
                warnings.append(
                    f"{source}: {len(filled)} gap(s) in tier {tier} ({filled.t_end.sum() - filled.t_start.sum():.3f} s) "
                    f"labelled {policy.fill_label!r} (annotation_checks.gaps.{tier}: fill)"
                )
                checked.append(filled)
    table = pd.concat(checked, ignore_index=True) if checked else segments.iloc[:0]
    return table.sort_values(["tier", "t_start", "t_end"], kind="stable").reset_index(drop=True), warnings


def _fill_gaps(
    ordered: pd.DataFrame, tier: str, policy: GapPolicy, labels: LabelSet, recording_duration_s: float | None
) -> pd.DataFrame:
    """Segments labelled ``policy.fill_label`` over the unlabelled time of one tier: between its
    segments, and from 0 to the first and from the last to the recording's end."""
    label = policy.fill_label
    if label not in labels:
        raise InputError(
            f"config annotation_checks.gaps.{tier}.fill_label = {label!r} is not a label of {labels.path} "
            f"(labels: {', '.join(labels.labels)}); name one of them or add it there"
        )
    bounds = [0.0, *np.ravel(np.column_stack([ordered.t_start, ordered.t_end])).tolist()]
    bounds.append(max(recording_duration_s or 0.0, float(ordered.t_end.max())))
    source = f"annotation_checks.gaps.{tier} (fill)"
    rows = [
        {"session": ordered.session.iloc[0], "tier": tier, "t_start": lo, "t_end": hi, "label": label,
         "source": source, "source_line": "gap"}
        for lo, hi in zip(bounds[0::2], bounds[1::2], strict=True)
        if hi > lo + _TIME_EPS
    ]
    return pd.DataFrame.from_records(rows, columns=[*SEGMENT_COLUMNS, "source", "source_line"])


def _where(source_line: object) -> str:
    return f"line {source_line}" if isinstance(source_line, int | np.integer) else f"annotation {source_line}"

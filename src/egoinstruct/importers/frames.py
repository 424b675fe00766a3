"""Frame-indexed CSV/TSV annotations (one row per segment: start frame, end frame, label; column
names are options) → one tier, seconds from frame numbers and the video's fps.

``t_start = (start - first_frame) / fps``. The end frame is inclusive by default (the last frame
of the segment, as most frame-labelled datasets write it, so ``0–29, 30–59`` tile without gaps):
``t_end = (end - first_frame + 1) / fps``; with ``end_inclusive=False`` it is the first frame after
the segment: ``t_end = (end - first_frame) / fps``. Labels are the slugs of the label column; the
session comes from a session column when given, else from the ``session`` argument or the file name.
"""

from __future__ import annotations

import csv
from pathlib import Path

from egoinstruct.errors import InputError
from egoinstruct.importers.common import (
    ImportReport,
    ImportResult,
    Segment,
    complete,
    keep_segment,
    one_line,
    require_slug,
    slug,
)


def import_frames(path: str | Path, fps: float, tier: str = "steps", procedure: str | None = None,
                  session: str | None = None, start_column: str = "start_frame", end_column: str = "end_frame",
                  label_column: str = "label", session_column: str | None = None, end_inclusive: bool = True,
                  first_frame: int = 0) -> ImportResult:
    """Import a frame-indexed table (see the module docstring)."""
    path = Path(path)
    if not fps or fps <= 0:
        raise InputError(f"{path}: fps must be a positive number of frames per second (got {fps}); pass --fps")
    if tier not in ("steps", "states"):
        raise InputError(f"{path}: tier must be steps or states (got {tier!r}); pass --tier steps|states")
    if tier == "steps" and not procedure:
        raise InputError(f"{path}: steps need a procedure (their label set is steps_<procedure>.yaml); pass "
                         "--procedure NAME")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: frame table not found; check the path") from None
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.DictReader(text.splitlines(), delimiter=sep)
    columns = [start_column, end_column, label_column] + ([session_column] if session_column else [])
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)} (columns: {', '.join(reader.fieldnames or [])}); "
                         "name the right ones with --start-column / --end-column / --label-column / --session-column")
    default_session = session or require_slug(path.stem, path, "file name (session)")
    report = ImportReport("frames", str(path))
    segments: list[Segment] = []
    descriptions: dict[tuple[str, str | None, str], str] = {}
    shift = 1 if end_inclusive else 0
    for line, row in enumerate(reader, start=2):
        where = f"line {line}"
        name = one_line(row.get(label_column) or "")
        label = slug(name)
        if not label:
            report.drop("row without a label", where)
            continue
        try:
            start = (int(str(row[start_column]).strip()) - first_frame) / fps
            end = (int(str(row[end_column]).strip()) - first_frame + shift) / fps
        except ValueError:
            raise InputError(f"{path}: {where}: {start_column}={row[start_column]!r}, {end_column}={row[end_column]!r}: "
                             "frame numbers must be whole numbers; fix the row or name the right columns") from None
        times = keep_segment(report, where, start, end)
        if times is None:
            continue
        if label != name:
            report.map("label name → label", f"{name!r} → {label}")
        owner = one_line(row.get(session_column) or "") if session_column else default_session
        if not owner:
            report.drop("row without a session", where)
            continue
        descriptions.setdefault((tier, procedure if tier == "steps" else None, label),
                                "" if name == label else f"“{name}”.")
        segments.append(Segment(owner, tier, times[0], times[1], label))
    comment = f"Imported from the frame-indexed table {path.name} at {fps:g} fps (egoinstruct import frames)."
    return complete(segments, report, descriptions, {s.session: procedure for s in segments}, comment)

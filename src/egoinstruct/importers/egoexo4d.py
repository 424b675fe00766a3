"""Ego-Exo4D keystep annotations (``keystep_train.json`` / ``keystep_val.json``, or any JSON with
the same ``annotations`` layout) → tier ``steps``.

Each take (``annotations`` → take_uid → ``take_name``, ``scenario``, ``segments``) becomes one
session: through the optional sessions table (CSV/TSV with columns ``take`` — a take_uid or
take_name — and ``session``; takes it does not name are dropped and reported), otherwise the slug
of ``take_name``. Segments keep ``start_time`` / ``end_time`` (seconds from the take start); the
label is the slug of ``step_name``; the procedure is the slug of ``scenario`` (label set
``steps_<procedure>.yaml``). A label's description is the first non-empty ``step_description``
of its instances (by time); from the taxonomy (``taxonomy`` → scenario → node id → ``name``,
``parent_name``, ``is_leafnode``; found in the same file or given separately) every leaf step of an
imported scenario joins the label set — also steps no take shows — described by its name and its
parent in the taxonomy when no instance describes it. The taxonomy holds names, not descriptions.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from egoinstruct.errors import InputError
from egoinstruct.importers.common import (
    ImportReport,
    ImportResult,
    Segment,
    complete,
    keep_segment,
    one_line,
    read_json,
    require_slug,
    slug,
)


def read_session_map(path: str | Path) -> dict[str, str]:
    """``take`` (take_uid or take_name) → ``session`` from a CSV or TSV with those columns."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: sessions table not found; check the path") from None
    sep = "\t" if path.suffix.lower() == ".tsv" or "\t" in text.split("\n", 1)[0] else ","
    rows = list(csv.DictReader(text.splitlines(), delimiter=sep))
    if not rows or not {"take", "session"} <= set(rows[0]):
        raise InputError(f"{path}: the sessions table needs the columns 'take' (take_uid or take_name) and "
                         "'session'")
    mapping: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):
        take, session = (row.get("take") or "").strip(), (row.get("session") or "").strip()
        if not take or not session:
            raise InputError(f"{path}: line {line}: empty 'take' or 'session'; fill both or delete the line")
        mapping[take] = session
    return mapping


def _taxonomy(data: Any, path: str | Path) -> dict[str, dict[str, Any]]:
    taxonomy = data.get("taxonomy") if isinstance(data, dict) else None
    if taxonomy is None:
        return {}
    if not isinstance(taxonomy, dict):
        raise InputError(f"{path}: field 'taxonomy' must map each scenario to its step nodes (as in Ego-Exo4D's "
                         "keystep_train.json); pass the file as delivered")
    return taxonomy


def import_egoexo4d(path: str | Path, sessions: dict[str, str] | None = None,
                    taxonomy_path: str | Path | None = None) -> ImportResult:
    """Import an Ego-Exo4D keystep JSON (see the module docstring)."""
    data = read_json(path, "Ego-Exo4D keystep JSON")
    annotations = data.get("annotations") if isinstance(data, dict) else None
    if not isinstance(annotations, dict):
        raise InputError(f"{path}: no 'annotations' mapping (take_uid → take); this is not an Ego-Exo4D keystep "
                         "JSON (keystep_train.json / keystep_val.json)")
    taxonomy = _taxonomy(read_json(taxonomy_path, "taxonomy JSON") if taxonomy_path else data,
                         taxonomy_path or path)
    report = ImportReport("egoexo4d", str(path))
    segments: list[Segment] = []
    descriptions: dict[tuple[str, str | None, str], str] = {}
    procedures: dict[str, str | None] = {}
    for take_uid, take in annotations.items():
        if not isinstance(take, dict):
            report.drop("take is not a mapping", str(take_uid))
            continue
        name = str(take.get("take_name") or take_uid)
        if sessions is not None:
            session = sessions.get(str(take_uid)) or sessions.get(name)
            if session is None:
                report.drop("take without a session mapping", f"{name} ({take_uid})")
                continue
        else:
            session = require_slug(name, path, f"annotations.{take_uid}.take_name")
        scenario = take.get("scenario")
        procedure = require_slug(scenario, path, f"annotations.{take_uid}.scenario") if scenario else None
        if procedure is None:
            raise InputError(f"{path}: annotations.{take_uid}: no 'scenario'; the scenario names the step "
                             "label set (steps_<scenario>.yaml) — add it")
        procedures[session] = procedure
        for i, raw in enumerate(take.get("segments") or []):
            where = f"{name} segment {i}"
            step_name = raw.get("step_name") if isinstance(raw, dict) else None
            label = slug(step_name or "")
            if not label:
                report.drop("segment without a step name", f"{where}: {raw!r}"[:200])
                continue
            times = keep_segment(report, where, raw.get("start_time"), raw.get("end_time"))
            if times is None:
                continue
            if label != step_name:
                report.map("step name → label", f"{step_name!r} → {label}")
            description = one_line(raw.get("step_description") or "")
            if description:
                descriptions.setdefault(("steps", procedure, label), description)
            segments.append(Segment(session, "steps", times[0], times[1], label))
    comment = (f"Procedural steps imported from the Ego-Exo4D keystep annotations {Path(path).name} "
               "(egoinstruct import egoexo4d).")
    return complete(segments, report, descriptions, procedures, comment,
                    lambda result: _add_taxonomy(result, taxonomy, descriptions))


def _add_taxonomy(result: ImportResult, taxonomy: dict[str, dict[str, Any]],
                  descriptions: dict[tuple[str, str | None, str], str]) -> None:
    by_procedure = {slug(scenario): nodes for scenario, nodes in taxonomy.items()}
    for spec in result.label_sets:
        nodes = by_procedure.get(spec.procedure or "")
        if not isinstance(nodes, dict):
            if taxonomy:
                result.report.notes.append(f"no taxonomy for procedure {spec.procedure}; label set from the "
                                           "annotated steps only")
            continue
        for node in nodes.values():
            if not isinstance(node, dict) or not node.get("is_leafnode") or not slug(node.get("name") or ""):
                continue
            label = slug(node["name"])
            if label in spec.labels and descriptions.get(("steps", spec.procedure, label)):
                continue
            parent = node.get("parent_name")
            text = f"{one_line(node['name'])}" + (f" (part of: {one_line(parent)})." if parent else ".")
            if label not in spec.labels:
                result.report.map("taxonomy step added to the label set", f"{spec.procedure}: {label}")
            spec.labels[label] = text

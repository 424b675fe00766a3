"""The sample sheets: ``config/recordings.tsv`` (inputs) and ``config/annotations.tsv``.

This is the only code that parses them; the workflow (``workflow/rules/common.smk``) and every
stage go through it. Rows are checked against ``workflow/schemas/recordings.schema.yaml`` /
``annotations.schema.yaml`` and then for what a per-row schema cannot see (duplicates, a gaze CSV
without its head camera, a session without a reference device, inconsistent folds). Errors name
the sheet, the line (1 = the header) and the field, and say how to fix it.

Recordings sheet columns: ``session, device, role, kind, path`` and optionally ``offset_s``
(known device offset, t_session = t_device + offset_s) and ``fold`` (cross-validation fold).
Annotation sheet columns: ``session, procedure, path`` and optionally ``tasks`` (the tasks the
file labels, ``steps``, ``states`` or ``steps,states``; empty: every task). A session's tasks are
those of all its rows together; it is trained, inferred and scored on exactly those.

A device has one media recording: one ``aria_vrs`` file, or one or more ``video`` (or ``audio``)
rows that are chapters of one recording, joined in sheet order (a GoPro splits long recordings);
a ``video``/``audio`` path may also be a glob (``GH0?1234.MP4``), which expands in chapter order.
Besides its media, a head camera may have an MPS output folder (``mps``) or an eye-gaze CSV
(``gaze_csv``), a ``calibration`` (camera JSON or the recording's VRS) and, for a ``vrs_to_mp4``
export, the exporter's ``export_log`` folder.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

import jsonschema
import pandas as pd

from egoinstruct.config import describe_validation_error, load_schema
from egoinstruct.errors import InputError
from egoinstruct.labels import label_file
from egoinstruct.tasks import TASK_NAMES, TASKS, parse_task_list

if TYPE_CHECKING:
    from egoinstruct.gaze.mps_folder import MpsOutputs

RECORDING_COLUMNS = ["session", "device", "role", "kind", "path"]
OPTIONAL_RECORDING_COLUMNS = ["offset_s", "fold"]
ANNOTATION_COLUMNS = ["session", "procedure", "path"]
OPTIONAL_ANNOTATION_COLUMNS = ["tasks"]
MEDIA_KINDS = ("video", "aria_vrs", "audio")
# Media kinds a device may list several rows (or a glob) of: chapters of one recording.
CHAPTER_KINDS = ("video", "audio")
# Inputs of a head camera besides its media: checked by their own job (validate.probe_head_inputs).
HEAD_INPUT_KINDS = ("gaze_csv", "calibration", "mps")
# Inputs that read with the media (probe_device): the log folder of a vrs_to_mp4 export.
MEDIA_OPTION_KINDS = ("export_log",)
# Kinds whose path is a folder, not a file.
FOLDER_KINDS = ("mps", "export_log")
GLOB_CHARACTERS = "*?["
ROLES = ("instructor", "learner", "exo")
HEAD_ROLES = ("instructor", "learner")


# The sheets' id patterns (workflow/schemas/*.schema.yaml) in words.
PATTERN_RULES = {
    "^([a-z_]+ *(, *[a-z_]+ *)*)?$": (
        "name the tasks the file labels, separated by commas (steps, states or steps,states), or leave it empty "
        "for every task"
    ),
    "^[A-Za-z0-9][A-Za-z0-9_-]*$": (
        "use letters, digits, '_' and '-' only, starting with a letter or digit (no spaces or dots: it becomes a "
        "folder and file name)"
    ),
}


def is_missing(value: object) -> bool:
    """True for an empty optional cell (None or NaN, whichever pandas produced)."""
    return value is None or (isinstance(value, float) and value != value)


def _read_tsv(path: str | Path, what: str) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_filter=False)
    except FileNotFoundError as exc:
        raise InputError(f"{path}: {what} not found; set its path in config/config.yaml") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot parse {what} as tab-separated text: {exc}") from exc
    except pd.errors.EmptyDataError:
        table = pd.DataFrame()
    table.columns = [str(c).strip() for c in table.columns]
    return table.apply(lambda col: col.str.strip())


def _check_columns(table: pd.DataFrame, path: str | Path, required: list[str], optional: list[str]) -> None:
    missing = [c for c in required if c not in table.columns]
    unknown = [c for c in table.columns if c not in required + optional]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s) {', '.join(unknown)}")
        raise InputError(
            f"{path}: {'; '.join(parts)}. The header must be tab-separated: "
            f"{', '.join(required)}" + (f" (optional: {', '.join(optional)})" if optional else "")
        )


def _number(value: str, path: str | Path, line: int, column: str, integer: bool) -> float | int | None:
    if value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise InputError(
            f"{path}: line {line}, column {column}: {value!r} is not a number; leave it empty or "
            f"write {'a whole number' if integer else 'seconds as a decimal number'}"
        ) from None
    if integer:
        if not number.is_integer():
            raise InputError(f"{path}: line {line}, column {column}: {value!r} must be a whole number")
        return int(number)
    return number


def _validate_rows(table: pd.DataFrame, path: str | Path, schema_name: str) -> None:
    validator = jsonschema.Draft202012Validator(load_schema(schema_name))
    for position, record in enumerate(table.to_dict(orient="records")):
        record = {k: v for k, v in record.items() if not is_missing(v)}
        error = next(iter(sorted(validator.iter_errors(record), key=str)), None)
        if error is not None:
            field = error.absolute_path[0] if error.absolute_path else None
            value = record.get(str(field)) if field is not None else None
            hint = ""
            if error.validator == "enum":
                hint = f"; allowed: {', '.join(map(str, error.validator_value))}"
            elif error.validator == "pattern":
                hint = f"; {PATTERN_RULES.get(error.validator_value, 'it must match ' + error.validator_value)}"
            raise InputError(
                f"{path}: line {position + 2}"
                + (f", column {field} = {value!r}" if field is not None else "")
                + f": {describe_validation_error(error)}{hint}"
            )


def read_recordings(path: str | Path, reference_role: str = "instructor") -> pd.DataFrame:
    """Read and check the recordings sheet. Returns one row per input with typed optional columns
    (``offset_s`` float or None, ``fold`` int or None) and a ``line`` column (1 = header)."""
    table = _read_tsv(path, "recordings sample sheet")
    _check_columns(table, path, RECORDING_COLUMNS, OPTIONAL_RECORDING_COLUMNS)
    if table.empty:
        raise InputError(f"{path}: the recordings sample sheet has no rows; list one row per input file")
    table = table.copy()
    table["line"] = range(2, len(table) + 2)
    for column, integer in (("offset_s", False), ("fold", True)):
        if column in table.columns:
            table[column] = [
                _number(v, path, line, column, integer) for v, line in zip(table[column], table["line"], strict=True)
            ]
        else:
            table[column] = None
    for column in ("offset_s", "fold"):
        table[column] = pd.Series([None if is_missing(v) else v for v in table[column]], dtype=object, index=table.index)
    _validate_rows(table.drop(columns="line"), path, "recordings")
    _check_recordings_consistency(table, path, reference_role)
    return table.reset_index(drop=True)


def _check_recordings_consistency(table: pd.DataFrame, path: str | Path, reference_role: str) -> None:
    repeated = table[table.duplicated(["session", "device", "kind", "path"], keep="first")]
    if not repeated.empty:
        row = repeated.iloc[0]
        first = table[(table.session == row.session) & (table.device == row.device) & (table.kind == row.kind)
                      & (table.path == row.path)].iloc[0]
        raise InputError(
            f"{path}: line {row.line}: repeats line {first.line} ({row.session}, {row.device}, {row.kind}, "
            f"{row.path}); list each input once"
        )
    duplicated = table[table.duplicated(["session", "device", "kind"], keep="first") & ~table.kind.isin(CHAPTER_KINDS)]
    if not duplicated.empty:
        row = duplicated.iloc[0]
        first = table[
            (table.session == row.session) & (table.device == row.device) & (table.kind == row.kind)
        ].iloc[0]
        raise InputError(
            f"{path}: line {row.line}: duplicate session/device/kind ({row.session}, {row.device}, "
            f"{row.kind}); it is already on line {first.line}. Give each device its own id "
            "(e.g. instructor_aria, learner_aria) and list each input once"
        )
    for (session, device), rows in table.groupby(["session", "device"], sort=False):
        roles = rows.role.unique()
        if len(roles) > 1:
            raise InputError(
                f"{path}: lines {', '.join(map(str, rows.line))}: device {device} of session "
                f"{session} has several roles ({', '.join(roles)}); a device is worn by one person"
            )
        media = rows[rows.kind.isin(MEDIA_KINDS)]
        if media.empty:
            raise InputError(
                f"{path}: line {rows.line.iloc[0]}: device {device} of session {session} has no "
                f"media row; add a row of kind {', '.join(MEDIA_KINDS)} for it"
            )
        if media.kind.nunique() > 1 or (len(media) > 1 and media.kind.iloc[0] not in CHAPTER_KINDS):
            raise InputError(
                f"{path}: lines {', '.join(map(str, media.line))}: device {device} of session "
                f"{session} has several media rows of kinds {', '.join(media.kind)}; a device has one recording: "
                f"one aria_vrs file, or {' or '.join(CHAPTER_KINDS)} rows that are chapters of one recording "
                "(joined in sheet order)"
            )
        gaze_kinds = rows[rows.kind.isin(["gaze_csv", "mps"])]
        if len(gaze_kinds) > 1:
            raise InputError(
                f"{path}: lines {', '.join(map(str, gaze_kinds.line))}: device {device} of session {session} has "
                f"{' and '.join(gaze_kinds.kind)} rows; give its eye gaze once: the MPS output folder (kind mps) or "
                "one eye-gaze CSV (kind gaze_csv)"
            )
        export = rows[rows.kind == "export_log"]
        if not export.empty and (media.kind.iloc[0] != "video" or len(media) != 1):
            raise InputError(
                f"{path}: line {export.line.iloc[0]}: an export_log (the log folder of projectaria-tools' vrs_to_mp4) "
                f"belongs to a device whose media is one exported MP4 (kind video); {device} has "
                f"{len(media)} {media.kind.iloc[0]} row(s)"
            )
        head_only = rows[rows.kind.isin([*HEAD_INPUT_KINDS, *MEDIA_OPTION_KINDS])]
        if not head_only.empty and roles[0] not in HEAD_ROLES:
            raise InputError(
                f"{path}: line {head_only.line.iloc[0]}: a {head_only.kind.iloc[0]} belongs to a "
                f"head-worn device (role {' or '.join(HEAD_ROLES)}), but {device} has role {roles[0]}"
            )
        offsets = {v for v in rows.offset_s if not is_missing(v)}
        if len(offsets) > 1:
            raise InputError(
                f"{path}: lines {', '.join(map(str, rows.line))}: device {device} of session "
                f"{session} has different offset_s values {sorted(offsets)}; a device has one clock offset"
            )
    for session, rows in table.groupby("session", sort=False):
        folds = {v for v in rows.fold if not is_missing(v)}
        if len(folds) > 1 or (folds and rows.fold.isna().any()):
            raise InputError(
                f"{path}: session {session} (lines {', '.join(map(str, rows.line))}): the fold column "
                "must hold the same value on every row of a session, or be empty on all of them"
            )
        reference = rows[(rows.role == reference_role) & rows.kind.isin(MEDIA_KINDS)]
        if reference.device.nunique() != 1:
            found = (
                "none" if reference.empty
                else ", ".join(f"{r.device} (line {r.line})" for r in reference.drop_duplicates("device").itertuples())
            )
            raise InputError(
                f"{path}: session {session} must have exactly one device with role {reference_role} (the "
                f"reference_role in config/config.yaml, whose first frame is t = 0 of the session clock); found "
                f"{found}. Give the other device(s) another role (e.g. exo), or set reference_role"
            )


def read_annotation_sheet(path: str | Path, labels_dir: str | Path) -> pd.DataFrame:
    """Read and check the annotation sheet (may be empty: sessions without annotations can still
    be preprocessed and run through the MLLMs, just not evaluated)."""
    table = _read_tsv(path, "annotation sheet")
    if table.empty and not len(table.columns):
        return pd.DataFrame(columns=[*ANNOTATION_COLUMNS, *OPTIONAL_ANNOTATION_COLUMNS, "line"])
    _check_columns(table, path, ANNOTATION_COLUMNS, OPTIONAL_ANNOTATION_COLUMNS)
    table = table.copy()
    table["line"] = range(2, len(table) + 2)
    _validate_rows(table.drop(columns="line"), path, "annotations")
    # one spelling per row: the tasks it labels, in registry order (an empty cell: every task)
    table["tasks"] = [
        ",".join(parse_task_list(text, f"{path}: line {line}, column tasks"))
        for text, line in zip(table.get("tasks", pd.Series([""] * len(table))), table.line, strict=True)
    ]
    for session, rows in table.groupby("session", sort=False):
        if rows.procedure.nunique() > 1:
            raise InputError(
                f"{path}: lines {', '.join(map(str, rows.line))}: session {session} lists several "
                "procedures; a session performs one procedure"
            )
    for row in table.itertuples():
        for task in TASKS.values():
            if not task.per_procedure or task.name not in row.tasks.split(","):
                continue
            labels = label_file(labels_dir, task.name, row.procedure)
            if not labels.exists():
                raise InputError(
                    f"{path}: line {row.line}, column procedure = {row.procedure!r}: no {task.name} label set "
                    f"{labels}; add it (one description per label) or fix the procedure name"
                )
    return table.reset_index(drop=True)


def annotated_tasks(table: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    """Session -> the tasks its annotation files label (all its rows together), in registry order."""
    out: dict[str, tuple[str, ...]] = {}
    for session, rows in table.groupby("session", sort=False):
        named = {name for cell in rows.tasks for name in cell.split(",") if name}
        out[str(session)] = tuple(name for name in TASK_NAMES if name in named)
    return out


def has_glob(path: str) -> bool:
    return any(c in path for c in GLOB_CHARACTERS)


def expand_media_paths(paths: list[str]) -> list[str]:
    """A device's media rows as files, in order: each row's path, a glob expanded in chapter order
    (GoPro chapter numbers when every match is a GoPro chapter name, else by name)."""
    from egoinstruct.media.chapters import gopro_chapter

    def chapter_sort_key(path: str) -> tuple[int, int, int, str]:
        parsed = gopro_chapter(Path(path).name)
        return (0, *parsed, path) if parsed else (1, 0, 0, path)

    files: list[str] = []
    for path in paths:
        if has_glob(path):
            matches = sorted(glob.glob(path), key=chapter_sort_key)
            files.extend(matches)
        else:
            files.append(path)
    return files


def check_paths_exist(
    table: pd.DataFrame, sheet: str | Path, generated_root: str | Path | None = None,
    generated: Collection[str | Path] = (),
) -> None:
    """Every ``path`` must be a non-empty file (a folder for the folder kinds, at least one file
    for a glob), except files under ``generated_root``, which must be among ``generated`` (what
    the demo rule makes) — so a typo under the demo folder is caught here too, instead of as a
    missing-input error or, for a target that exists, not at all."""
    root = Path(generated_root).resolve() if generated_root else None
    made = {Path(p).resolve() for p in generated}
    for row in table.itertuples():
        file = Path(row.path)
        where = f"{sheet}: line {row.line}, column path: {row.path}"
        kind = getattr(row, "kind", None)
        if root is not None and (file.resolve() == root or root in file.resolve().parents):
            inside = kind in FOLDER_KINDS and any(file.resolve() in m.parents for m in made)
            if file.resolve() not in made and not inside:
                raise InputError(
                    f"{where} is under the demo folder {generated_root}, but the demo generator makes no such "
                    "file; fix the path (egoinstruct demo-sheets writes correct sheets) or set demo.enabled: false"
                )
            continue
        if kind in CHAPTER_KINDS and has_glob(row.path):
            if not glob.glob(row.path):
                raise InputError(
                    f"{where} matches no file; fix the pattern (relative paths are taken from the directory "
                    "snakemake runs in)"
                )
            continue
        if not file.exists():
            raise InputError(
                f"{where} does not exist; fix the path (relative paths are taken from the directory "
                "snakemake runs in)"
            )
        if kind in FOLDER_KINDS:
            if not file.is_dir():
                raise InputError(f"{where} is a file; a {kind} row gives a folder (e.g. the mps_<name>_vrs folder)")
            continue
        if file.is_dir():
            raise InputError(f"{where} is a folder, not a file; give the path of the file inside it"
                             + ("; for an MPS output folder use kind mps" if kind == "gaze_csv" else ""))
        if file.stat().st_size == 0:
            raise InputError(f"{where} is empty (0 bytes): the copy never completed; copy the file again")


def resolve_mps_folders(
    table: pd.DataFrame, sheet: str | Path, eye_gaze: str, generated_root: str | Path | None = None,
    generated: Collection[str | Path] = (),
) -> dict[tuple[str, str], MpsOutputs]:
    """The files of every ``mps`` row's folder (:func:`egoinstruct.gaze.mps_folder.find_mps_outputs`),
    by (session, device); a folder without eye gaze stops here, naming the sheet line. A folder
    under ``generated_root`` is resolved from ``generated`` (what the demo rule will write)."""
    from egoinstruct.gaze.mps_folder import find_mps_outputs

    root = Path(generated_root).resolve() if generated_root else None
    made = [Path(os.path.normpath(p)) for p in generated]
    found = {}
    for row in table[table.kind == "mps"].itertuples():
        folder = Path(os.path.normpath(row.path))
        files = None
        if root is not None and (folder.resolve() == root or root in folder.resolve().parents):
            files = [p for p in made if folder in p.parents]
        try:
            found[(row.session, row.device)] = find_mps_outputs(folder, eye_gaze, files=files)
        except InputError as exc:
            raise InputError(f"{sheet}: line {row.line} ({row.session}/{row.device}, mps): {exc}") from None
    return found

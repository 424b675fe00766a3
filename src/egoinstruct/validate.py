"""The validate stage: probe every input of a session and check its annotations.

Three steps, so that each output changes only when what it describes changes, and a bad file
stops only the stages that need it:

* :func:`probe_device` → ``results/sessions/{session}/probe/{device}.json``: the device's role,
  sheet offset, its recording's streams (any container, chapters joined, each checked to decode
  to the end), duration and clock facts. Audio, sync and frames depend on these only.
* :func:`probe_head_inputs` → ``results/sessions/{session}/gaze_probe/{device}.json``: a head
  camera's eye gaze — its MPS folder (which files were found and used) or one eye-gaze CSV —
  with the gaze stage's own checks (layout, samples, time order), and its camera calibration.
  The gaze and head-motion stages depend on it, so a bad gaze file stops gaze, not audio.
* :func:`validate_session` → ``results/sessions/{session}/probe.json`` and the validated
  annotations ``annotations.parquet``: all device probes, the reference device and the session's
  extent on the session clock, the checked annotations' summary, and every warning. Every stage
  that uses annotations (assembly, evaluation, MLLM scoring) reads that table, never the raw
  files, so nothing is trained or scored on annotations validation rejected.

Any hard problem raises :class:`InputError` before anything is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from egoinstruct.annotations import SEGMENT_COLUMNS, check_segments, read_session_segments
from egoinstruct.camera import read_calibration
from egoinstruct.errors import InputError
from egoinstruct.gaze.mps import read_mps_eye_gaze
from egoinstruct.gaze.mps_folder import find_mps_outputs
from egoinstruct.gaze.track import clean_samples
from egoinstruct.media.probe import check_file, probe_media
from egoinstruct.settings.gaze import GazeSettings
from egoinstruct.settings.ingest import MediaSettings
from egoinstruct.settings.validation import AnnotationChecks
from egoinstruct.sheet import HEAD_INPUT_KINDS, MEDIA_KINDS, expand_media_paths, is_missing
from egoinstruct.tasks import TASK_NAMES, TASKS


def probe_gaze_csv(path: str | Path, max_bad_timestamp_fraction: float) -> dict[str, Any]:
    """Layout, sample count, clock span and rate of an MPS eye-gaze CSV, after the gaze stage's
    own checks (readable rows, some usable samples, one recording in time order)."""
    gaze = read_mps_eye_gaze(path)
    _, cleaning = clean_samples(gaze.table, path, max_bad_timestamp_fraction)
    ts = gaze.table.tracking_timestamp_us.to_numpy()
    valid = np.isfinite(gaze.table[["yaw_rad", "pitch_rad"]].to_numpy()).all(axis=1)
    steps = np.diff(np.sort(ts)) / 1e6
    return {
        "path": str(path),
        "layout": gaze.layout,
        "n_samples": int(len(ts)),
        "n_invalid_samples": int((~valid).sum()),
        "first_timestamp_us": int(ts.min()) if len(ts) else None,
        "last_timestamp_us": int(ts.max()) if len(ts) else None,
        "rate_hz": float(1.0 / np.median(steps)) if len(steps) and np.median(steps) > 0 else None,
        "has_depth": bool(gaze.table.depth_m.notna().any()),
        "has_per_eye": bool(gaze.table.left_yaw_rad.notna().any()),
        "cleaning": cleaning.to_dict(),
    }


def probe_calibration(path: str | Path) -> dict[str, Any]:
    """Facts of a head camera's calibration: a camera-model JSON, or an Aria VRS to take the
    factory calibration of its RGB camera from."""
    from egoinstruct.media.reader import is_vrs

    camera = read_calibration(path)
    return {"path": str(path), "source": "vrs" if is_vrs(path) else "json", "model": camera.model,
            "width": camera.width, "height": camera.height, "rotation_cw": camera.rotation_cw, "device": camera.device}


def probe_mps_folder(path: str | Path, gaze: GazeSettings) -> dict[str, Any]:
    """The files found in an MPS output folder (:func:`egoinstruct.gaze.mps_folder.find_mps_outputs`)
    and the checks of its eye gaze."""
    outputs = find_mps_outputs(path, gaze.mps_eye_gaze)
    return {**outputs.to_dict(), "eye_gaze_probe": probe_gaze_csv(outputs.eye_gaze, gaze.max_bad_timestamp_fraction)}


def _probe_head_input(kind: str, path: str, where: str, gaze: GazeSettings) -> dict[str, Any]:
    try:
        if kind == "mps":
            return probe_mps_folder(path, gaze)
        check_file(path, where)
        if kind == "gaze_csv":
            return probe_gaze_csv(path, gaze.max_bad_timestamp_fraction)
        if kind == "calibration":
            return probe_calibration(path)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from exc
    raise InputError(f"{where}: unknown kind {kind!r}")  # the sheet schema prevents this


def media_duration_s(probe: dict[str, Any]) -> float | None:
    """Duration of a probed recording on its device clock (the readers' ``duration_s``)."""
    return probe.get("duration_s")


def probe_device(rows: pd.DataFrame, sheet_path: str = "recordings sheet",
                 media: MediaSettings | None = None, reference_role: str | None = None) -> dict[str, Any]:
    """Probe one device's recording (its media rows, joined as chapters when several, with an
    export_log when given): role, offset, streams, duration, clock. Its gaze and calibration rows
    are :func:`probe_head_inputs`' job."""
    first = rows.iloc[0]
    device: dict[str, Any] = {
        "session": first.session,
        "device": first.device,
        "role": first.role,
        "offset_s": next((float(v) for v in rows.offset_s if not is_missing(v)), None),
        "inputs": {},
        "warnings": [],
    }
    media_rows = rows[rows.kind.isin(MEDIA_KINDS)]
    kind = str(media_rows.kind.iloc[0])
    lines = ", ".join(map(str, media_rows.line))
    where = f"{sheet_path}: line{'s' if len(media_rows) > 1 else ''} {lines} ({first.session}/{first.device}, {kind})"
    paths = expand_media_paths(list(media_rows.path))
    export = rows.loc[rows.kind == "export_log", "path"]
    channels = media.aria_mic_channels.to_mapping() if media is not None else None
    probe = probe_media(paths, where, vrs_channels=channels, export_log=export.iloc[0] if len(export) else None)
    if kind in ("video", "aria_vrs") and probe["video"] is None:
        if probe.get("container") == "vrs":
            raise InputError(
                f"{where}: {paths[0]} has no RGB camera stream (camera-rgb, 214-1): frames, faces, visual features, "
                "head motion and gaze need it. Its audio still works: list the file with kind audio to use it "
                "for speech and sync only, or record with a profile that includes the RGB camera"
            )
        raise InputError(f"{where}: {paths[0]} has no video stream; use kind 'audio' for audio-only files")
    device["inputs"][kind] = probe
    device["media_kind"] = kind
    device["media_paths"] = paths
    device["duration_s"] = media_duration_s(probe)
    device["has_audio"] = probe.get("audio") is not None
    is_reference = reference_role is not None and first.role == reference_role
    if not device["has_audio"] and device["offset_s"] is None:
        if probe.get("container") == "vrs" and not is_reference:
            raise InputError(
                f"{where}: {paths[0]} has no microphone stream (mic, 231-1), so its clock cannot be found by audio "
                "cross-correlation. Give the device's offset to the session clock in the sample sheet's offset_s "
                "column (t_session = t_device + offset_s, device time 0 = its first RGB frame); its frames, gaze and "
                "head motion still work"
            )
        device["warnings"].append(
            f"{first.device} has no audio, so its clock offset cannot be found by audio "
            "cross-correlation; give offset_s for it in the sample sheet"
            + (" (as the reference device, it is the other devices that then need offset_s)" if is_reference else "")
        )
    for warning in probe.get("warnings", []):
        device["warnings"].append(f"{first.device}: {warning}")
    return device


def probe_head_inputs(rows: pd.DataFrame, gaze: GazeSettings, sheet_path: str = "recordings sheet") -> dict[str, Any]:
    """Probe a head camera's eye gaze (MPS folder or CSV) and calibration (its sample-sheet rows
    of those kinds)."""
    first = rows.iloc[0]
    inputs = {
        row.kind: _probe_head_input(row.kind, row.path, f"{sheet_path}: line {row.line} ({row.session}/{row.device}, "
                                                        f"{row.kind})", gaze)
        for row in rows.itertuples()
        if row.kind in HEAD_INPUT_KINDS
    }
    return {"session": first.session, "device": first.device, "inputs": inputs}


# Eye-gaze layouts that only one Aria generation writes (the current Gen 1 layout is also what
# the Gen 2 on-device exporter writes, so it tells nothing).
LAYOUT_GENERATION = {"gen1_v1": "gen1", "gen1_v2": "gen1", "gen2": "gen2"}


def check_generations(inputs: dict[str, Any], where: str) -> None:
    """A device's recording, eye gaze and calibration come from one Aria generation: a Gen 2 file
    where the recording is Gen 1 (or the other way round) belongs to another device."""
    found: dict[str, str] = {}
    vrs = inputs.get("aria_vrs") or {}
    if vrs.get("device", {}).get("generation"):
        found[f"the recording {vrs['path']}"] = vrs["device"]["generation"]
    gaze = eye_gaze_probe(inputs)
    if gaze and gaze.get("layout") in LAYOUT_GENERATION:
        found[f"the eye gaze {gaze['path']} (layout {gaze['layout']})"] = LAYOUT_GENERATION[gaze["layout"]]
    calibration = inputs.get("calibration") or {}
    if str(calibration.get("device") or "").startswith("aria_gen"):
        found[f"the calibration {calibration['path']}"] = calibration["device"].removeprefix("aria_")
    if len(set(found.values())) > 1:
        said = "; ".join(f"{what} is Aria {gen.replace('gen', 'Gen ')}" for what, gen in found.items())
        raise InputError(
            f"{where}: {said}. One device's inputs come from one pair of glasses: one of these files belongs to "
            "another device or recording — fix its row in the sample sheet"
        )


def eye_gaze_probe(inputs: dict[str, Any]) -> dict[str, Any] | None:
    """The eye-gaze CSV facts of a device's probed inputs (from its MPS folder or its CSV row)."""
    if "mps" in inputs:
        return dict(inputs["mps"]["eye_gaze_probe"])
    return inputs.get("gaze_csv")


def validate_session(
    session: str,
    device_probes: list[dict[str, Any]],
    head_probes: list[dict[str, Any]],
    annotation_paths: list[str],
    annotation_tasks: list[list[str]],
    procedure: str | None,
    labels_dir: str | Path,
    reference_role: str,
    checks: AnnotationChecks,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Combine the probes of ``session`` and check its annotations (every file of the session,
    read together, each for the tasks its sheet row names in ``annotation_tasks``); the probe
    document and the validated segment table (empty without annotations)."""
    devices = {probe["device"]: {**probe, "inputs": dict(probe["inputs"])} for probe in device_probes}
    for head in head_probes:
        devices[head["device"]]["inputs"].update(head["inputs"])
        check_generations(devices[head["device"]]["inputs"], f"session {session}, device {head['device']}")
    warnings = [w for probe in device_probes for w in probe.get("warnings", [])]
    reference = next(name for name, d in devices.items() if d["role"] == reference_role)
    duration = devices[reference]["duration_s"]

    annotation: dict[str, Any] | None = None
    segments = pd.DataFrame(columns=SEGMENT_COLUMNS + ["source_line"])
    if annotation_paths:
        segments = read_session_segments(annotation_paths, session, checks.eaf_tiers, annotation_tasks)
        sources = ", ".join(annotation_paths)
        tasks = [name for name in TASK_NAMES if any(name in names for names in annotation_tasks)]
        segments, found = check_segments(
            segments, sources, labels_dir, procedure, duration, tasks, checks.gaps, checks.end_tolerance_s
        )
        warnings += found
        annotation = {
            "paths": list(annotation_paths),
            "procedure": procedure,
            "tasks": tasks,
            "tiers": {
                tier: {
                    "n_segments": int(len(g)),
                    "span_s": [float(g.t_start.min()), float(g.t_end.max())],
                    "seconds_per_label": {
                        str(k): round(float(v), 3)
                        for k, v in (g.t_end - g.t_start).groupby(g.label, sort=False).sum().items()
                    },
                }
                for tier, g in segments.groupby("tier", sort=True)
            },
        }
    else:
        warnings.append(f"session {session} has no annotations: it can be processed but not evaluated")

    probe = {
        "session": session,
        "reference_device": reference,
        "session_duration_s": duration,
        "devices": devices,
        "annotations": annotation,
        "warnings": warnings,
    }
    return probe, segments


def inputs_overview(probes: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per session and device: role, streams, gaze layout, annotations (for the report)."""
    rows = []
    for probe in probes:
        annotation = probe.get("annotations") or {}
        for name, device in probe["devices"].items():
            media = next((device["inputs"][k] for k in MEDIA_KINDS if k in device["inputs"]), {})
            video, audio = media.get("video") or {}, media.get("audio") or {}
            gaze = eye_gaze_probe(device["inputs"]) or {}
            rows.append(
                {
                    "session": probe["session"],
                    "device": name,
                    "role": device["role"],
                    "reference": name == probe["reference_device"],
                    "duration_s": device.get("duration_s"),
                    "video": f"{video['width']}x{video['height']}@{video['fps']:.3g}" if video else "",
                    "audio": f"{audio['sample_rate_hz']} Hz x{audio['channels']}" if audio else "",
                    "gaze_layout": gaze.get("layout", ""),
                    "gaze_rate_hz": gaze.get("rate_hz"),
                    "procedure": annotation.get("procedure", ""),
                    **{
                        f"n_{task.label_column}_segments": annotation.get("tiers", {}).get(name, {}).get("n_segments")
                        for name, task in TASKS.items()
                    },
                    "warnings": len(probe.get("warnings", [])),
                }
            )
    return pd.DataFrame(rows)

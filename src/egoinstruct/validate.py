"""The validate stage: probe every input of a session and check its annotations.

Three steps, so that each output changes only when what it describes changes, and a bad file
stops only the stages that need it:

* :func:`probe_device` → ``results/sessions/{session}/probe/{device}.json``: the device's role,
  sheet offset, its media file's streams (checked to decode to the end) and duration. Audio,
  sync and frames depend on these only.
* :func:`probe_head_inputs` → ``results/sessions/{session}/gaze_probe/{device}.json``: a head
  camera's MPS eye-gaze CSV (layout, samples, time order — the same checks the gaze stage runs)
  and camera calibration. The gaze and head-motion stages depend on it, so a bad gaze file stops
  gaze, not audio.
* :func:`validate_session` → ``results/sessions/{session}/probe.json`` and the validated
  annotations ``annotations.parquet``: all device probes, the reference device and the session's
  extent on the session clock, the checked annotations' summary, and every warning. Every stage
  that uses annotations (assembly, evaluation, MLLM scoring) reads that table, never the raw
  files, so nothing is trained or scored on annotations validation rejected.

Any hard problem raises :class:`InputError` before anything is written.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from egoinstruct.annotations import SEGMENT_COLUMNS, check_segments, read_session_segments
from egoinstruct.camera import CameraModel
from egoinstruct.errors import InputError
from egoinstruct.gaze.mps import read_mps_eye_gaze
from egoinstruct.gaze.track import clean_samples
from egoinstruct.media.probe import check_file, probe_media
from egoinstruct.settings.gaze import GazeSettings
from egoinstruct.settings.validation import AnnotationChecks
from egoinstruct.sheet import HEAD_INPUT_KINDS, MEDIA_KINDS, is_missing
from egoinstruct.tasks import TASKS


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


def _probe_input(kind: str, path: str, where: str, gaze: GazeSettings | None = None) -> dict[str, Any]:
    if kind in ("video", "audio"):
        probe = probe_media(path, where)
        if kind == "video" and probe["video"] is None:
            raise InputError(f"{where}: {path} has no video stream; use kind 'audio' for audio-only files")
        return probe
    if kind == "gaze_csv":
        assert gaze is not None, "gaze settings are needed to probe an eye-gaze CSV"
        try:
            check_file(path, where)
            return probe_gaze_csv(path, gaze.max_bad_timestamp_fraction)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from exc
    if kind == "calibration":
        try:
            camera = CameraModel.from_json(path)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from exc
        return {"path": path, "model": camera.model, "width": camera.width, "height": camera.height}
    if kind == "aria_vrs":
        if importlib.util.find_spec("projectaria_tools") is None:
            raise InputError(
                f"{where}: {path} is an Aria VRS file, which needs projectaria-tools: install the "
                "optional extra (pip install -r requirements/aria.txt) or export the recording to "
                "MP4 and list it with kind 'video'"
            )
        return {"path": path, "format": "vrs"}
    raise InputError(f"{where}: unknown kind {kind!r}")  # the sheet schema prevents this


def media_duration_s(probe: dict[str, Any]) -> float | None:
    """Duration of a probed media file: the longest stream, else the container's."""
    durations = [
        s["duration_s"] for s in (probe.get("video"), probe.get("audio")) if s and s.get("duration_s")
    ]
    return max(durations) if durations else probe.get("duration_s")


def probe_device(rows: pd.DataFrame, sheet_path: str = "recordings sheet") -> dict[str, Any]:
    """Probe one device's media (its sample-sheet rows): role, offset, streams, duration. Its
    gaze and calibration rows are :func:`probe_head_inputs`' job."""
    first = rows.iloc[0]
    device: dict[str, Any] = {
        "session": first.session,
        "device": first.device,
        "role": first.role,
        "offset_s": None,
        "inputs": {},
        "warnings": [],
    }
    for row in rows.itertuples():
        if not is_missing(row.offset_s):
            device["offset_s"] = float(row.offset_s)
        if row.kind in HEAD_INPUT_KINDS:
            continue
        where = f"{sheet_path}: line {row.line} ({row.session}/{row.device}, {row.kind})"
        device["inputs"][row.kind] = _probe_input(row.kind, row.path, where)
    media = next(device["inputs"][k] for k in MEDIA_KINDS if k in device["inputs"])
    device["media_kind"] = next(k for k in MEDIA_KINDS if k in device["inputs"])
    device["duration_s"] = media_duration_s(media)
    device["has_audio"] = media.get("audio") is not None
    if not device["has_audio"] and device["offset_s"] is None:
        device["warnings"].append(
            f"{first.device} has no audio, so its clock offset cannot be found by audio "
            "cross-correlation; give offset_s for it in the sample sheet"
        )
    return device


def probe_head_inputs(rows: pd.DataFrame, gaze: GazeSettings, sheet_path: str = "recordings sheet") -> dict[str, Any]:
    """Probe a head camera's eye-gaze CSV and calibration (its sample-sheet rows of those kinds)."""
    first = rows.iloc[0]
    inputs = {
        row.kind: _probe_input(row.kind, row.path, f"{sheet_path}: line {row.line} ({row.session}/{row.device}, "
                                                   f"{row.kind})", gaze)
        for row in rows.itertuples()
        if row.kind in HEAD_INPUT_KINDS
    }
    return {"session": first.session, "device": first.device, "inputs": inputs}


def validate_session(
    session: str,
    device_probes: list[dict[str, Any]],
    head_probes: list[dict[str, Any]],
    annotation_paths: list[str],
    procedure: str | None,
    labels_dir: str | Path,
    reference_role: str,
    checks: AnnotationChecks,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Combine the probes of ``session`` and check its annotations (every file of the session,
    read together); the probe document and the validated segment table (empty without
    annotations)."""
    devices = {probe["device"]: {**probe, "inputs": dict(probe["inputs"])} for probe in device_probes}
    for head in head_probes:
        devices[head["device"]]["inputs"].update(head["inputs"])
    warnings = [w for probe in device_probes for w in probe.get("warnings", [])]
    reference = next(name for name, d in devices.items() if d["role"] == reference_role)
    duration = devices[reference]["duration_s"]

    annotation: dict[str, Any] | None = None
    segments = pd.DataFrame(columns=SEGMENT_COLUMNS + ["source_line"])
    if annotation_paths:
        segments = read_session_segments(annotation_paths, session, checks.eaf_tiers)
        sources = ", ".join(annotation_paths)
        warnings += check_segments(
            segments, sources, labels_dir, procedure, duration, checks.allow_gaps, checks.end_tolerance_s
        )
        annotation = {
            "paths": list(annotation_paths),
            "procedure": procedure,
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
            gaze = device["inputs"].get("gaze_csv") or {}
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

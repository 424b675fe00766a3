"""The report's data section: tables gathered from the per-session JSON files.

Sources (every one a declared input of the report rule, read strictly): ``probe.json``
(durations, annotations), ``sync.json`` (clock offsets, GCC-PHAT confidence) and
``transcript.json`` (speech methods and speed) per session; the demo-truth comparison
(``demo_quality.json``) is merged into the sync table when there are demo sessions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from egoinstruct.errors import InputError
from egoinstruct.tasks import TASKS

log = logging.getLogger(__name__)


def required(path: str | Path) -> Path:
    """``path``, which must be a file: an :class:`InputError` naming it otherwise."""
    file = Path(path)
    if not file.is_file():
        raise InputError(
            f"{file}: a report input is missing; it is an output of an earlier rule — run the workflow "
            "(snakemake) rather than the report alone, and do not move or rename files under results/"
        )
    return file


def read_json(path: str | Path) -> dict[str, Any]:
    """A JSON input's content (:func:`required`)."""
    file = required(path)
    try:
        data = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{file}: not valid JSON ({exc}); delete it and rerun the rule that writes it") from exc
    if not isinstance(data, dict):
        raise InputError(f"{file}: expected a JSON object")
    return data


def sessions_table(
    sessions: Sequence[str],
    procedures: Mapping[str, str | None],
    probes: Mapping[str, dict[str, Any] | None],
    syncs: Mapping[str, dict[str, Any] | None],
    speech: Mapping[str, dict[str, Any] | None],
) -> pd.DataFrame:
    """One row per session: procedure, duration, devices, annotated segments, weakest sync
    confidence, speech methods and real-time factor."""
    rows = []
    for s in sessions:
        probe, sync, quality = probes.get(s) or {}, syncs.get(s) or {}, speech.get(s) or {}
        tiers = ((probe.get("annotations") or {}).get("tiers")) or {}
        low = [d for d, c in (sync.get("devices") or {}).items() if c.get("low_confidence")]
        rows.append({
            "session": s,
            "procedure": procedures.get(s) or "",
            "duration_s": probe.get("session_duration_s"),
            "devices": len(probe.get("devices") or {}) or None,
            **{f"{task.label_column}_segments": (tiers.get(name) or {}).get("n_segments")
               for name, task in TASKS.items()},
            "min_sync_psr": sync.get("min_confidence_psr"),
            "low_confidence_devices": ",".join(low),
            "asr_words": quality.get("n_words"),
            "alignment": (quality.get("alignment") or {}).get("method", ""),
            "diarization": (quality.get("diarization") or {}).get("method", ""),
            "speakers": (quality.get("diarization") or {}).get("n_speakers"),
            "speech_rtf": quality.get("rtf"),
            "warnings": len(probe.get("warnings") or []) + len(quality.get("warnings") or []),
        })
    return pd.DataFrame(rows, columns=["session", "procedure", "duration_s", "devices",
                                       *(f"{task.label_column}_segments" for task in TASKS.values()), "min_sync_psr", "low_confidence_devices", "asr_words",
                                       "alignment", "diarization", "speakers", "speech_rtf", "warnings"])


def speech_warnings(speech: Mapping[str, dict[str, Any] | None]) -> pd.DataFrame:
    """One row per warning of the speech stage (``transcript.json``): session, diarization
    method, speakers found, warning."""
    rows = [
        {"session": s, "diarization": ((quality or {}).get("diarization") or {}).get("method", ""),
         "speakers": ((quality or {}).get("diarization") or {}).get("n_speakers"), "warning": warning}
        for s, quality in speech.items() for warning in (quality or {}).get("warnings") or []
    ]
    return pd.DataFrame(rows, columns=["session", "diarization", "speakers", "warning"])


def label_distribution(probes: Mapping[str, dict[str, Any] | None]) -> pd.DataFrame:
    """Annotated seconds per tier, procedure (steps; ``all`` for states) and label, with shares."""
    rows = []
    for s, probe in probes.items():
        annotations = (probe or {}).get("annotations") or {}
        for tier, facts in (annotations.get("tiers") or {}).items():
            group = TASKS[tier].group(annotations.get("procedure")) if tier in TASKS else "all"
            for label, seconds in (facts.get("seconds_per_label") or {}).items():
                rows.append({"tier": tier, "group": group, "label": label, "session": s, "seconds": float(seconds)})
    frame = pd.DataFrame(rows, columns=["tier", "group", "label", "session", "seconds"])
    if frame.empty:
        return pd.DataFrame(columns=["tier", "group", "label", "sessions", "seconds", "share"])
    out = (
        frame.groupby(["tier", "group", "label"], sort=False)
        .agg(sessions=("session", "nunique"), seconds=("seconds", "sum"))
        .reset_index()
    )
    out["share"] = 100.0 * out.seconds / out.groupby(["tier", "group"]).seconds.transform("sum")
    return out


def sync_table(syncs: Mapping[str, dict[str, Any] | None], truth_errors: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per session and device: method, offset, drift, GCC-PHAT peak-to-sidelobe ratio,
    low-confidence flag, and (demo) the error against the generator's true offset."""
    rows = []
    for s, sync in syncs.items():
        for device, clock in ((sync or {}).get("devices") or {}).items():
            rows.append({
                "session": s, "device": device, "role": clock.get("role", ""), "method": clock.get("method", ""),
                "offset_s": clock.get("offset_s"), "drift_ppm": clock.get("drift_ppm"),
                "confidence_psr": clock.get("confidence_psr"), "low_confidence": bool(clock.get("low_confidence")),
            })
    frame = pd.DataFrame(rows, columns=["session", "device", "role", "method", "offset_s", "drift_ppm",
                                        "confidence_psr", "low_confidence"])
    if truth_errors is not None and not truth_errors.empty:
        frame = frame.merge(truth_errors[["session", "device", "true_offset_s", "error_ms"]], on=["session", "device"],
                            how="left")
    return frame

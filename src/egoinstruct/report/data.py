"""The report's data and MLLM-usage sections: tables gathered from the per-session JSON files.

Every input is optional — a missing file leaves its rows out and the section says so — so the
report renders for any subset of stages. Sources: ``probe.json`` (durations, annotations),
``sync.json`` (clock offsets, GCC-PHAT confidence), ``transcript.json`` (speech methods and
speed), the demo generator's truth (sync offset error, WER, DER, role attribution; demo sessions
only), and per MLLM run ``run.json`` and ``windows/*.parquet``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

log = logging.getLogger(__name__)


def read_json(path: str | Path | None) -> dict[str, Any] | None:
    """A JSON file's content, or None when there is no such file."""
    if path is None or not Path(path).exists():
        return None
    return json.loads(Path(path).read_text())


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
            "step_segments": (tiers.get("steps") or {}).get("n_segments"),
            "state_segments": (tiers.get("states") or {}).get("n_segments"),
            "min_sync_psr": sync.get("min_confidence_psr"),
            "low_confidence_devices": ",".join(low),
            "asr_words": quality.get("n_words"),
            "alignment": (quality.get("alignment") or {}).get("method", ""),
            "diarization": (quality.get("diarization") or {}).get("method", ""),
            "speakers": (quality.get("diarization") or {}).get("n_speakers"),
            "speech_rtf": quality.get("rtf"),
            "warnings": len(probe.get("warnings") or []) + len(quality.get("warnings") or []),
        })
    return pd.DataFrame(rows, columns=["session", "procedure", "duration_s", "devices", "step_segments",
                                       "state_segments", "min_sync_psr", "low_confidence_devices", "asr_words",
                                       "alignment", "diarization", "speakers", "speech_rtf", "warnings"])


def label_distribution(probes: Mapping[str, dict[str, Any] | None]) -> pd.DataFrame:
    """Annotated seconds per tier, procedure (steps; ``all`` for states) and label, with shares."""
    rows = []
    for s, probe in probes.items():
        annotations = (probe or {}).get("annotations") or {}
        for tier, facts in (annotations.get("tiers") or {}).items():
            group = (annotations.get("procedure") or "") if tier == "steps" else "all"
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


def demo_quality(
    results_dir: str | Path, demo_root: str | Path, sessions: Sequence[str]
) -> tuple[pd.DataFrame | None, pd.DataFrame | None, dict[str, Any] | None, list[str]]:
    """(sync errors, per-session speech errors, pooled speech summary, notes) against the demo
    generator's truth, for ``sessions`` whose truth and results exist. A part that cannot be
    computed is None with a note saying why."""
    notes: list[str] = []
    results_dir, demo_root = Path(results_dir), Path(demo_root)
    have_sync = [
        s for s in sessions
        if (demo_root / s / "truth" / "truth.json").exists() and (results_dir / "sessions" / s / "sync.json").exists()
    ]
    sync = None
    if have_sync:
        from egoinstruct.truth import sync_errors

        sync = sync_errors(results_dir, demo_root, have_sync)
    have_speech = [
        s for s in sessions
        if (demo_root / s / "truth" / "dialogue.tsv").exists()
        and all((results_dir / "sessions" / s / f).exists()
                for f in ("transcript.parquet", "speaker_turns.parquet", "transcript.json"))
    ]
    speech = summary = None
    if have_speech:
        try:
            from egoinstruct.speech.quality import speech_errors, speech_summary

            speech = speech_errors(results_dir, demo_root, have_speech)
            summary = speech_summary(speech)
        except ImportError as exc:  # pyannote.metrics / jiwer are part of the locked environment
            notes.append(f"speech quality not computed: {exc}")
    elif sessions:
        notes.append("speech quality not computed: no demo session has both a transcript and the dialogue truth")
    return sync, speech, summary, notes


def mllm_usage(
    runs: Mapping[tuple[str, str], dict[str, Any] | None],
    windows: Mapping[tuple[str, str], Sequence[str | Path]],
) -> pd.DataFrame:
    """One row per (task, MLLM method): what the model saw, requests, cache hits, tokens, latency,
    and answer outcomes. ``prompt_tokens`` … ``latency_s_*`` are over the calls the run made
    (run.json; a fully cached rerun makes none); ``answer_*`` over every answer used (the window
    records, each with the figures of the call that produced it, cached or not)."""
    rows = []
    for (task, method), run in runs.items():
        run = run or {}
        calls = run.get("calls") or {}
        paths = [p for p in windows.get((task, method), []) if Path(p).exists()]
        records = (
            pd.concat([pq.read_table(p, columns=["outcome", "cache_hit", "latency_s", "prompt_tokens",
                                                  "completion_tokens"]).to_pandas() for p in paths],
                      ignore_index=True)
            if paths else pd.DataFrame()
        )
        n_windows = len(records) if not records.empty else run.get("windows")
        unparseable = (
            float((records.outcome == "unparseable").mean()) if not records.empty else run.get("unparseable_rate")
        )
        identity = run.get("identity") or {}
        rows.append({
            "task": task,
            "method": method,
            "backend": run.get("backend", ""),
            "model": identity.get("model", ""),
            "prompt_version": run.get("prompt_version", ""),
            "decoding": run.get("decoding", ""),
            "inputs_shown": ",".join(run.get("inputs_shown") or []),
            "inputs_left_out": ",".join(run.get("inputs_dropped") or []),
            "windows": n_windows,
            "requests": calls.get("requests"),
            "new_calls": calls.get("new_calls"),
            "cache_hits": calls.get("cache_hits"),
            "cache_hit_share_answers": float(records.cache_hit.mean()) if not records.empty else None,
            "retries": calls.get("retries"),
            "prompt_tokens": calls.get("prompt_tokens"),
            "completion_tokens": calls.get("completion_tokens"),
            "latency_s_mean": calls.get("latency_s_mean"),
            "latency_s_p50": calls.get("latency_s_p50"),
            "latency_s_p95": calls.get("latency_s_p95"),
            "answer_prompt_tokens": int(records.prompt_tokens.fillna(0).sum()) if not records.empty else None,
            "answer_completion_tokens": int(records.completion_tokens.fillna(0).sum()) if not records.empty else None,
            "answer_latency_s_mean": float(records.latency_s.mean()) if not records.empty else None,
            "unparseable_rate": unparseable,
            "outcomes": ", ".join(f"{k} {v}" for k, v in records.outcome.value_counts().items())
            if not records.empty else ", ".join(f"{k} {v}" for k, v in (run.get("outcomes") or {}).items()),
            "wall_s": run.get("wall_s"),
        })
    return pd.DataFrame(rows, columns=["task", "method", "backend", "model", "prompt_version", "decoding",
                                       "inputs_shown", "inputs_left_out", "windows", "requests", "new_calls",
                                       "cache_hits", "cache_hit_share_answers", "retries", "prompt_tokens",
                                       "completion_tokens", "latency_s_mean", "latency_s_p50", "latency_s_p95",
                                       "answer_prompt_tokens", "answer_completion_tokens", "answer_latency_s_mean",
                                       "unparseable_rate", "outcomes", "wall_s"])

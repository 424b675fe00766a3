"""One model on one task over a set of sessions: windows → prompts → calls → predictions.

:func:`run_model_task` is what the workflow's ``mllm_predict`` rule calls. Order of work:

1. the backend is created and *preflighted* (weights present, key variable set, server
   reachable) before any input is read, so a configuration problem costs nothing;
2. per session, the inputs the model can take are loaded (frames only for image models, audio
   only for audio models; the transcript always), windows are cut and each is rendered into a
   request with the model's prompt template;
3. the runner answers the requests (cache first; bounded concurrency; retries; limits). With
   ``include_previous_step`` the windows of a session run in order (each prompt names the
   previous window's answer) and sessions run in parallel instead;
4. answers are parsed against the session's label set, then written as frame-level predictions
   and window records (:mod:`.predictions`); the run summary (what the model was shown and what
   was left out, outcome counts, calls, cache hits, tokens, latency, throughput) is returned.

Inputs the configuration provides but the model cannot take (e.g. frames and audio for a
text-only model) are recorded as ``inputs_dropped``; a run that saw only transcripts says so
(``transcript_only``).
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from egoinstruct.errors import InputError
from egoinstruct.labels import LabelSet, load_labels
from egoinstruct.mllm.backends.base import Backend, ModelRequest, Part, Sampling, create_backend
from egoinstruct.mllm.cache import ResponseCache
from egoinstruct.mllm.parse import UNPARSEABLE, ParsedAnswer, from_scores, parse_answer
from egoinstruct.mllm.predictions import (
    WindowAnswer,
    frame_predictions,
    frame_times,
    write_window_records,
)
from egoinstruct.mllm.prompts import check_model, render, template
from egoinstruct.mllm.runner import CallPolicy, Runner
from egoinstruct.mllm.windows import SessionMedia, Window, window_spans
from egoinstruct.predictions import write_predictions
from egoinstruct.settings.mllm import MllmSettings, ModelSettings
from egoinstruct.tasks import get_task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionInputs:
    """Where one session's inputs are and where its outputs go."""

    session: str
    procedure: str | None
    duration_s: float
    frames: dict[str, str]  # device -> frames Parquet (only used for image models)
    audio: str | None  # session-aligned WAV (only used for audio models)
    transcript: str | None
    predictions: str  # output: frame-level predictions Parquet
    windows: str  # output: window records Parquet


def label_set_for(labels_dir: str | Path, task: str, session: SessionInputs) -> LabelSet:
    per_procedure = get_task(task).per_procedure
    if per_procedure and not session.procedure:
        raise InputError(
            f"session {session.session}: the {task} task needs the session's procedure, but the "
            f"annotation sheet names none; add the session to the annotation sheet or drop '{task}' from mllm.tasks"
        )
    labels = load_labels(labels_dir, task, session.procedure if per_procedure else None)
    if UNPARSEABLE in labels.labels:
        raise InputError(f"{labels.path}: the label {UNPARSEABLE!r} is reserved for answers that cannot be parsed; rename it")
    return labels


def inputs_dropped(stage: MllmSettings, model: ModelSettings) -> list[str]:
    """Inputs the configuration provides that this model cannot take."""
    provided = []
    if stage.frames_per_window > 0 and stage.devices:
        provided.append("image")
    if stage.audio_device:
        provided.append("audio")
    style = template(model.prompt_version).style
    takes = set(model.modalities) | ({"image"} if "video" in model.modalities else set())  # frames as video
    return [m for m in provided if m not in takes or style == "completion"]


def build_request(
    task: str,
    window: Window,
    labels: LabelSet,
    model: ModelSettings,
    previous_label: str | None,
    procedure: str | None = None,
) -> tuple[ModelRequest, tuple[str, ...]]:
    """The request of one window (and the inputs it shows)."""
    prompt = render(model.prompt_version, task, window, labels, frozenset(model.modalities), previous_label, procedure)
    system, parts = prompt.system, prompt.parts
    if model.system_prompt is not None and prompt.style == "chat":
        # A model that wants its own system prompt (Qwen2.5-Omni), or has no system role
        # (system_prompt: "", e.g. Gemma), gets ours at the top of the user turn.
        if system:
            parts = _merge_leading_text(Part.of_text(system + "\n\n"), parts)
        system = model.system_prompt or None
    request = ModelRequest(
        request_id=f"{window.session}/{task}/{window.index:05d}",
        style=prompt.style,
        system=system,
        parts=parts,
        labels=labels.labels,
        answer_format=prompt.answer_format,
        decoding=model.decoding,
        sampling=Sampling(model.temperature, model.max_tokens, model.top_p, model.seed),
        template_version=prompt.version,
    )
    return request, prompt.inputs_used


def _merge_leading_text(first: Part, parts: tuple[Part, ...]) -> tuple[Part, ...]:
    if parts and parts[0].kind == "text":
        return (Part.of_text((first.text or "") + (parts[0].text or "")), *parts[1:])
    return (first, *parts)


def _parse(response_scores: dict[str, float] | None, text: str, labels: LabelSet) -> ParsedAnswer:
    if response_scores is not None:
        return from_scores(response_scores, labels.labels)
    return parse_answer(text, labels.labels)


class _SessionRun:
    """Windows of one session: requests, answers and records."""

    def __init__(self, task: str, model: ModelSettings, runner: Runner, inputs: SessionInputs,
                 media: SessionMedia, labels: LabelSet, stage: MllmSettings):
        self.task, self.model, self.runner, self.inputs = task, model, runner, inputs
        self.labels, self.stage = labels, stage
        self.windows = list(media.windows(stage.window_s, stage.hop_s, stage.frames_per_window))
        self.records: list[dict[str, Any] | None] = [None] * len(self.windows)
        self.answers: list[WindowAnswer | None] = [None] * len(self.windows)
        self.progress: tqdm | None = None

    def run_window(self, index: int, previous_label: str | None) -> ParsedAnswer:
        window = self.windows[index]
        request, used = build_request(self.task, window, self.labels, self.model, previous_label,
                                      self.inputs.procedure)
        result = self.runner.call(request)
        response = result.response
        parsed = _parse(response.scores, response.text, self.labels)
        probabilities = None
        if response.scores is not None and parsed.label is not None:
            top = max(response.scores.values())
            total = sum(math.exp(v - top) for v in response.scores.values())
            probabilities = {k: math.exp(v - top) / total for k, v in response.scores.items()}
        self.answers[index] = WindowAnswer(window.t_start, window.t_end, parsed.label, probabilities)
        self.records[index] = {
            "session": window.session,
            "task": self.task,
            "model": self.model.name,
            "window_index": window.index,
            "t_start": window.t_start,
            "t_end": window.t_end,
            "inputs_used": ",".join(used),
            "n_frames": len(window.frames) if {"image", "video"} & set(used) else 0,
            "n_utterances": len(window.utterances),
            "audio_s": window.duration_s if any(p.kind == "audio" for p in request.parts) else 0.0,
            "previous_label": previous_label,
            "raw_response": response.text,
            "scores_json": json.dumps(response.scores) if response.scores is not None else None,
            "outcome": parsed.outcome,
            "label": parsed.label,
            "confidence": parsed.confidence,
            "parse_detail": parsed.detail,
            "cache_hit": result.cache_hit,
            "latency_s": result.latency_s,
            "attempts": result.attempts,
            "prompt_tokens": response.prompt_tokens,
            "completion_tokens": response.completion_tokens,
            "request_key": result.key,
        }
        if self.progress is not None:
            self.progress.update(1)
        return parsed

    def task_per_window(self) -> list[Callable[[], ParsedAnswer]]:
        return [lambda i=i: self.run_window(i, None) for i in range(len(self.windows))]

    def run_chained(self) -> None:
        previous: str | None = None
        for i in range(len(self.windows)):
            parsed = self.run_window(i, previous)
            previous = parsed.label or "unknown"

    def write(self, metadata: dict[str, str]) -> dict[str, Any]:
        answers = [a for a in self.answers if a is not None]
        times = frame_times(self.inputs.duration_s, self.stage.prediction_rate_hz)
        labels_out, scores = frame_predictions(answers, times, self.labels.labels)
        meta = {**metadata, "session": self.inputs.session, "procedure": self.inputs.procedure or ""}
        write_predictions(self.inputs.predictions, times, labels_out, self.labels.labels, scores, meta)
        write_window_records(self.inputs.windows, [r for r in self.records if r is not None], meta)
        return {"windows": len(answers), "frames": len(times),
                "unparseable_frames": sum(1 for label in labels_out if label == UNPARSEABLE)}


def run_model_task(
    task: str,
    model: ModelSettings,
    stage: MllmSettings,
    sessions: list[SessionInputs],
    labels_dir: str | Path,
    cache_dir: str | Path | None = None,
    threads: int = 1,
    backend: Backend | None = None,
) -> dict[str, Any]:
    """Run ``model`` on ``task`` over ``sessions``; write their outputs; return the run summary."""
    check_model(model)
    backend = backend or create_backend(model, threads=threads)
    tpl = template(model.prompt_version)
    backend.check_style(tpl.style)
    backend.preflight()  # before any input is read
    label_sets = {s.session: label_set_for(labels_dir, task, s) for s in sessions}
    cache = None
    if model.cacheable:
        cache = ResponseCache(Path(cache_dir or stage.cache_dir) / f"{model.name}.jsonl")
    else:
        log.warning("model %s: temperature %s > 0, so answers are not deterministic and are not cached",
                    model.name, model.temperature)
    runner = Runner(backend, cache, CallPolicy(
        concurrency=model.concurrency,
        max_retries=model.max_retries,
        max_requests=model.max_requests,
        max_tokens_total=model.max_tokens_total,
    ))
    dropped = inputs_dropped(stage, model)
    use_images = bool({"image", "video"} & set(model.modalities)) and tpl.style == "chat"
    use_audio = "audio" in model.modalities and tpl.style == "chat"
    frames_as = "image" if "image" in model.modalities else "video"
    shown = ["transcript"] + ([frames_as] if use_images else []) + (["audio"] if use_audio else [])
    metadata = {
        "task": task, "model": model.name, "backend": model.backend, "prompt_version": tpl.version,
        "decoding": model.decoding, "fold": "-1", "inputs_dropped": ",".join(dropped),
        "window_s": repr(stage.window_s), "hop_s": repr(stage.hop_s), "rate_hz": repr(stage.prediction_rate_hz),
    }
    log.info("model %s (%s) on task %s: %d sessions, shown %s%s; concurrency %d", model.name, model.backend,
             task, len(sessions), ", ".join(shown),
             f", left out: {', '.join(dropped)}" if dropped else "", runner.concurrency)

    total = sum(len(window_spans(s.duration_s, stage.window_s, stage.hop_s)) for s in sessions)
    progress = tqdm(total=total, desc=f"{model.name} {task}", unit="window", file=sys.stderr, mininterval=10)

    def load(inputs: SessionInputs) -> _SessionRun:
        media = SessionMedia.load(
            inputs.session,
            inputs.duration_s,
            inputs.frames if use_images else {},
            inputs.audio if use_audio else None,
            inputs.transcript,
        )
        run = _SessionRun(task, model, runner, inputs, media, label_sets[inputs.session], stage)
        run.progress = progress
        return run

    started = time.perf_counter()
    per_session: dict[str, dict[str, Any]] = {}
    records: list[dict[str, Any]] = []

    def whole_session(inputs: SessionInputs) -> _SessionRun:
        run = load(inputs)
        run.run_chained()
        per_session[inputs.session] = run.write(metadata)
        log.info("session %s: %d windows done", inputs.session, len(run.windows))
        return run

    try:
        if stage.include_previous_step:
            for run in runner.run_all([lambda s=s: whole_session(s) for s in sessions]):
                records.extend(r for r in run.records if r is not None)
        else:
            for inputs in sessions:
                run = load(inputs)
                runner.run_all(run.task_per_window())
                per_session[inputs.session] = run.write(metadata)
                records.extend(r for r in run.records if r is not None)
                log.info("session %s: %d windows done (%d new calls, %d cached so far)", inputs.session,
                         len(run.windows), runner.stats.new_calls, runner.stats.cache_hits)
    finally:
        progress.close()
        backend.close()
    elapsed = time.perf_counter() - started
    outcomes = Counter(r["outcome"] for r in records)
    n = len(records)
    return {
        "task": task,
        "model": model.name,
        "backend": model.backend,
        "identity": backend.identity(),
        "prompt_version": tpl.version,
        "prompt_fingerprint": tpl.fingerprint(),
        "decoding": model.decoding,
        "temperature": model.temperature,
        "inputs_shown": shown,
        "inputs_dropped": dropped,
        "transcript_only": not (use_images or use_audio),
        "window_s": stage.window_s,
        "hop_s": stage.hop_s,
        "frames_per_window": stage.frames_per_window if use_images else 0,
        "include_previous_step": stage.include_previous_step,
        "sessions": per_session,
        "windows": n,
        "outcomes": dict(sorted(outcomes.items())),
        "unparseable_windows": outcomes.get(UNPARSEABLE, 0),
        "unparseable_rate": outcomes.get(UNPARSEABLE, 0) / n if n else None,
        "calls": runner.stats.as_dict(),
        # Over every answer used, cached or new (the cost of the answers when they were made).
        "answers": {
            "prompt_tokens": sum(r["prompt_tokens"] or 0 for r in records),
            "completion_tokens": sum(r["completion_tokens"] or 0 for r in records),
            "latency_s_mean": sum(r["latency_s"] for r in records) / n if n else None,
        },
        "concurrency": runner.concurrency,
        "cache_file": str(cache.path) if cache is not None else None,
        "wall_s": elapsed,
        "windows_per_s": n / elapsed if elapsed > 0 else None,
    }

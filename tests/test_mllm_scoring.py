"""An MLLM run's score (rule mllm_summary) is the evaluation's figure of the same method, and the
usage table (summary.tsv and the report's mllm_usage.csv) is built from the run summaries."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from egoinstruct.annotations import read_session_segments
from egoinstruct.evaluation import MethodSpec, evaluate_task, load_truth
from egoinstruct.mllm.backends import Backend, ModelResponse
from egoinstruct.mllm.scoring import score_run
from egoinstruct.mllm.stage import SessionInputs, run_model_task
from egoinstruct.mllm.usage import COLUMNS, usage_table
from egoinstruct.paths import LABELS_DIR
from egoinstruct.settings.evaluation import EvaluationSettings
from egoinstruct.settings.workflow import defaults_for
from egoinstruct.tables import PREDICTIONS_SCHEMA

from mllm_utils import model_settings, stage_settings

IE, SW, LA = "instructor_explains", "silent_work", "learner_asks"
HEADER = ["session", "tier", "t_start", "t_end", "label"]


def write_segments(path: Path, rows: list[tuple]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=HEADER).to_csv(path, sep="\t", index=False)
    return path


def write_predictions(path: Path, times, labels) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"t": pa.array(times, pa.float64()), "label": pa.array(labels, pa.string()),
                             "fold": pa.array([-1] * len(times), pa.int64())}, schema=PREDICTIONS_SCHEMA), path)
    return path


def settings(**changes) -> EvaluationSettings:
    base = defaults_for(EvaluationSettings)
    return dataclasses.replace(base, bootstrap=dataclasses.replace(base.bootstrap, resamples=50), **changes)


@pytest.fixture
def annotated(tmp_path) -> dict[str, tuple[str | None, list[Path]]]:
    """s1: steps and states in two files; s2: one file with both tiers; s3: states only, no procedure."""
    s1_steps = write_segments(tmp_path / "s1" / "steps.tsv", [
        ("s1", "steps", 0.0, 1.0, "background"), ("s1", "steps", 1.0, 4.0, "place_base_plate")])
    s1_states = write_segments(tmp_path / "s1" / "states.tsv", [
        ("s1", "states", 0.0, 2.0, IE), ("s1", "states", 2.0, 4.0, SW)])
    s2 = write_segments(tmp_path / "s2" / "all.tsv", [
        ("s2", "steps", 0.0, 4.0, "place_base_plate"), ("s2", "states", 0.0, 4.0, SW)])
    s3 = write_segments(tmp_path / "s3" / "states.tsv", [("s3", "states", 0.0, 4.0, LA)])
    files = {"s1": ("block_assembly", [s1_steps, s1_states]), "s2": ("block_assembly", [s2]), "s3": (None, [s3])}
    # what the validate stage hands on: each session's files read together into one checked table
    return {s: (procedure, read_session_segments(paths, s)) for s, (procedure, paths) in files.items()}


def test_score_is_the_evaluations_pooled_figure_and_reads_every_file(tmp_path, annotated):
    t = np.arange(8) / 2.0  # 2 Hz, as the MLLM stage writes
    states = {
        "s1": write_predictions(tmp_path / "p" / "s1.parquet", t, [IE] * 4 + [SW] * 2 + ["unparseable"] * 2),
        "s2": write_predictions(tmp_path / "p" / "s2.parquet", t, [SW] * 8),
        "s3": write_predictions(tmp_path / "p" / "s3.parquet", t, [IE] * 8),
    }
    config = settings()
    score = score_run("states", "mllm-x", states, annotated, config, LABELS_DIR)
    # by hand on the 5 Hz grid (20 frames a session): s1 15 right (its last second unparseable), s2 20, s3 0
    assert score["sessions_scored"] == ["s1", "s2", "s3"] and score["frames_scored"] == 60
    assert score["accuracy"] == pytest.approx(100 * 35 / 60)
    assert score["unparseable_frame_rate"] == pytest.approx(5 / 60)
    assert score["majority_baseline_accuracy"] == pytest.approx(100 * 30 / 60)  # SW: 10 + 20 of 60 frames
    assert score["predicted_label_counts"] == {IE: 30, SW: 25, "unparseable": 5}
    assert set(score["per_class_f1"]) == {IE, SW, LA}
    # the same numbers as the evaluation of the same predictions (pooled over sessions)
    truth = load_truth("states", annotated, config.rate_hz)
    evaluation = evaluate_task("states", [MethodSpec("mllm-x", "zero-shot", ("text",), states)], truth, LABELS_DIR,
                               config)
    pooled = evaluation.methods["mllm-x"].pooled
    for metric, value in pooled.items():
        assert score[metric] == pytest.approx(value, nan_ok=True), metric

    # steps: s1's steps are in another file than its states; s3 has no procedure and takes no part
    steps = {s: write_predictions(tmp_path / "q" / f"{s}.parquet", t, ["place_base_plate"] * 8) for s in ("s1", "s2")}
    score = score_run("steps", "mllm-x", steps, annotated, config, LABELS_DIR)
    assert score["sessions_scored"] == ["s1", "s2"] and score["frames_scored"] == 40
    assert score["accuracy"] == pytest.approx(100 * 35 / 40)  # s1's first second is background
    truth = load_truth("steps", annotated, config.rate_hz)
    evaluation = evaluate_task("steps", [MethodSpec("mllm-x", "zero-shot", (), steps)], truth, LABELS_DIR, config)
    for metric, value in evaluation.methods["mllm-x"].pooled.items():
        assert score[metric] == pytest.approx(value, nan_ok=True), metric


def test_score_follows_the_evaluation_grid(tmp_path, annotated):
    t = np.arange(8) / 2.0
    files = {s: write_predictions(tmp_path / f"{s}.parquet", t, [SW] * 8) for s in ("s1", "s2")}
    coarse = score_run("states", "m", files, annotated, settings(rate_hz=1.0), LABELS_DIR)
    assert coarse["grid_rate_hz"] == 1.0 and coarse["frames_scored"] == 8
    assert coarse["accuracy"] == pytest.approx(100 * 6 / 8)
    # a session without annotation (or a run with no annotated session) is not scored
    alone = score_run("states", "m", {"s9": files["s1"]}, annotated, settings(), LABELS_DIR)
    assert alone["frames_scored"] == 0 and alone["sessions_scored"] == [] and "accuracy" not in alone


class ScriptedBackend(Backend):
    """Answers states in turn, one per request, as chat JSON (and garbage every third call)."""

    name = "scripted"
    supported_decodings = frozenset({"none"})

    def __init__(self, settings):
        super().__init__(settings)
        self.calls = 0

    def identity(self):
        return {"backend": self.name, "model": "scripted-1", "revision": "1"}

    def preflight(self):
        pass

    def complete(self, request):
        answer = [f'{{"label": "{IE}"}}', f'{{"label": "{SW}"}}', "no idea"][self.calls % 3]
        self.calls += 1
        return ModelResponse(answer, prompt_tokens=50, completion_tokens=5)


def test_usage_table_from_a_real_run_summary_and_its_score(tmp_path, annotated):
    model = model_settings("scripted", backend="scripted", prompt_version="chat-v1", decoding="none")
    stage = stage_settings(tasks=("states",), cache_dir=str(tmp_path / "cache"))
    transcript = tmp_path / "t.parquet"
    pd.DataFrame({"t_start": [1.0], "t_end": [2.0], "text": ["hello"]}).to_parquet(transcript)
    sessions = [SessionInputs(s, annotated[s][0], 16.0, {}, None, str(transcript), str(tmp_path / "pred" / f"{s}.parquet"),
                              str(tmp_path / "win" / f"{s}.parquet")) for s in ("s1", "s3")]

    def summary() -> dict:
        run = run_model_task("states", model, stage, sessions, LABELS_DIR, backend=ScriptedBackend(model))
        predictions = {s.session: s.predictions for s in sessions}
        return {"run": run, "score": score_run("states", "mllm-scripted", predictions, annotated, settings(),
                                               LABELS_DIR)}

    first, rerun = summary(), summary()
    table = usage_table([first, rerun])
    assert list(table.columns) == COLUMNS and len(table) == 2
    row, cached = table.iloc[0], table.iloc[1]
    windows = first["run"]["windows"]
    assert windows == 6  # 3 windows (8 s every 4 s) in each 16-s session
    assert (row.task, row.method, row.model, row.backend, row.served_model) == (
        "states", "mllm-scripted", "scripted", "scripted", "scripted-1")
    assert (row.prompt_version, row.decoding, row.inputs_shown, row.inputs_left_out) == (
        "chat-v1", "none", "transcript", "image,audio")
    assert bool(row.transcript_only) and row.sessions == 2 and row.windows == windows
    assert (row.new_calls, row.cache_hits, row.cache_hit_share) == (windows, 0, 0.0)
    assert (row.prompt_tokens, row.answer_prompt_tokens) == (50 * windows, 50 * windows)
    assert row.unparseable_window_rate == pytest.approx(2 / 6)
    assert row.outcomes == "json 4, unparseable 2"
    assert row.accuracy == pytest.approx(first["score"]["accuracy"]) and row.frames_scored == 40
    # a fully cached rerun: no new calls, the answers' cost as measured when they were made
    assert (cached.new_calls, cached.cache_hits, cached.cache_hit_share) == (0, windows, 1.0)
    assert cached.prompt_tokens == 0 and cached.answer_prompt_tokens == 50 * windows
    assert math.isnan(cached.call_latency_s_mean) and cached.accuracy == pytest.approx(row.accuracy)


def test_usage_table_without_runs_or_scores():
    empty = usage_table([])
    assert empty.empty and list(empty.columns) == COLUMNS
    run = {"task": "steps", "model": "m", "windows": 0, "calls": {}, "sessions": {}}
    row = usage_table([{"run": run, "score": {"task": "steps", "frames_scored": 0}}]).iloc[0]
    assert row.method == "mllm-m" and row.cache_hit_share is None and row.frames_scored == 0
    assert row.accuracy is None and row.outcomes == ""

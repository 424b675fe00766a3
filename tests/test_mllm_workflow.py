"""The MLLM stage in the workflow: lint, dry run, and a real run of the demo model on a short demo
session (in a scratch working directory), then a forced rerun that makes no new calls; the
stage's own score equals the evaluation's for the same predictions."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from egoinstruct.tables import PREDICTIONS_SCHEMA, read_table

from workflow_utils import ACCEPTED_LINT, lints, make_workdir, snakemake


def test_lint_and_dry_run(tmp_path):
    workdir = make_workdir(tmp_path / "wd", [f"s{i:02d}" for i in range(1, 4)])
    lint = snakemake(workdir, "--lint", check=False)
    assert not [x for x in lints(lint.stdout + lint.stderr) if x != ACCEPTED_LINT], lint.stdout
    dry = snakemake(workdir, "-n", "results/mllm/summary.tsv")
    assert "mllm_predict_steps" in dry.stdout and "mllm_predict_states" in dry.stdout
    assert "mllm_overview" in dry.stdout


def write_transcript_from_truth(workdir: Path, session: str) -> None:
    """The demo's true dialogue as a transcript (the speech stage's output, for this test)."""
    dialogue = pd.read_csv(workdir / "resources" / "demo" / session / "truth" / "dialogue.tsv", sep="\t")
    transcript = pd.DataFrame({
        "t_start": dialogue.t_start.astype(float), "t_end": dialogue.t_end.astype(float),
        "speaker": dialogue.role.map({"instructor": "SPEAKER_00", "learner": "SPEAKER_01"}),
        "role": dialogue.role, "text": dialogue.text,
    })
    transcript.to_parquet(workdir / "results" / "sessions" / session / "transcript.parquet")


@pytest.mark.slow
def test_demo_model_runs_the_stage_and_a_rerun_makes_no_calls(tmp_path):
    workdir = make_workdir(tmp_path / "wd", ["s01"], duration_s=20)
    snakemake(workdir, "--cores", "2", "results/sessions/s01/probe.json")
    write_transcript_from_truth(workdir, "s01")
    # Only this stage's rules: the transcript written above stands in for the speech stage's.
    only_mllm = ["--allowed-rules", "mllm_predict_steps", "mllm_predict_states", "mllm_summary", "mllm_overview"]
    snakemake(workdir, "--cores", "2", *only_mllm, "--", "results/mllm/summary.tsv")

    overview = pd.read_csv(workdir / "results" / "mllm" / "summary.tsv", sep="\t")
    assert sorted(overview.task) == ["states", "steps"]
    row = overview.set_index("task").loc["states"]
    assert row.model == "gemma3-270m" and bool(row.transcript_only) and row.inputs_left_out == "image,audio"
    assert row.new_calls == row.windows > 0 and row.cache_hits == 0
    for task in ("steps", "states"):
        path = workdir / "results" / "predictions" / task / "mllm-gemma3-270m" / "s01.parquet"
        table = read_table(path, "predictions")
        assert table.schema.names[:3] == PREDICTIONS_SCHEMA.names
        duration = json.loads((workdir / "results" / "sessions" / "s01" / "probe.json").read_text())["session_duration_s"]
        assert table.num_rows == math.ceil(duration * 2)  # 2 Hz over the session
        assert set(table.column("fold").to_pylist()) == {-1}
        summary = json.loads((workdir / "results" / "mllm" / task / "gemma3-270m" / "summary.json").read_text())
        assert 0 <= summary["score"]["accuracy"] <= 100 and summary["score"]["frames_scored"] > 30
    cache = workdir / "results" / "mllm" / "cache" / "gemma3-270m.jsonl"
    answered = len(cache.read_text().splitlines())

    snakemake(workdir, "--cores", "2", *only_mllm, "--forcerun", "mllm_predict_states", "mllm_predict_steps",
        "--", "results/mllm/summary.tsv")
    for task in ("steps", "states"):
        again = json.loads((workdir / "results" / "mllm" / task / "gemma3-270m" / "run.json").read_text())
        assert again["calls"]["new_calls"] == 0 and again["calls"]["cache_hits"] == again["windows"]
    assert len(cache.read_text().splitlines()) == answered
    records = pq.read_table(workdir / "results" / "mllm" / "states" / "gemma3-270m" / "windows" / "s01.parquet")
    assert all(records.column("cache_hit").to_pylist())
    config = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    assert config["mllm"]["models"]["gemma3-270m"]["backend"] == "llama_cpp"

"""Sessions that label one task: half the demo sessions steps only, one states only.

Each task is validated, assembled, folded, trained, inferred (baselines and MLLMs) and scored on
exactly the sessions with its labels; the report says how many sessions each task was scored on.
The dry run checks the planned jobs; the slow test runs the workflow to the report.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml

from egoinstruct.annotations import read_validated

from workflow_utils import make_workdir, planned_jobs, snakemake

SESSIONS = ["s01", "s02", "s03", "s04"]
# s01 labels both tasks (its ELAN file), s02 and s03 steps only, s04 states only
TASKS = {"s01": "", "s02": "steps", "s03": "steps", "s04": "states"}
STEPS_SESSIONS = ["s01", "s02", "s03"]
STATES_SESSIONS = ["s01", "s04"]
# one cheap cross-validated method per task beside the majority reference
METHODS = {"steps": {"mstcn", "majority"}, "states": {"gbdt", "majority"}}


def _workdir(root: Path) -> Path:
    workdir = make_workdir(root, SESSIONS, tasks=TASKS, duration_s=12)
    path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    for task, methods in config["baselines"]["methods"].items():
        for name, method in methods.items():
            method["enabled"] = name in METHODS[task]
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return workdir


def _by_rule(jobs: list[tuple[str, dict[str, str]]]) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for rule, wildcards in jobs:
        out.setdefault(rule, []).append(wildcards)
    return out


def test_each_task_is_planned_on_exactly_its_sessions(tmp_path):
    workdir = _workdir(tmp_path)
    jobs = _by_rule(planned_jobs(workdir))
    dry_run = snakemake(workdir, "-n")
    planned_outputs = dry_run.stdout + dry_run.stderr
    assert sorted(j["session"] for j in jobs["validate_session"]) == SESSIONS
    assert sorted(j["session"] for j in jobs["assemble"]) == SESSIONS  # each is in some task's folds
    assert sorted(j["task"] for j in jobs["folds"]) == ["states", "steps"]
    for task, sessions in (("steps", STEPS_SESSIONS), ("states", STATES_SESSIONS)):
        # leave one session out: a fold per session of the task, a model per method and fold
        trained = Counter(j["method"] for j in jobs[f"train_{task}"])
        assert trained == {m: len(sessions) for m in METHODS[task]}
        predicted = sorted((j["method"], j["session"]) for j in jobs[f"predict_{task}"])
        assert predicted == sorted((m, s) for m in METHODS[task] for s in sessions)
        # one MLLM job per task and model, whose windows and predictions are the task's sessions
        assert [j["model"] for j in jobs[f"mllm_predict_{task}"]] == ["gemma3-270m"]
        windows = re.findall(rf"results/mllm/{task}/gemma3-270m/windows/(\w+)\.parquet", planned_outputs)
        assert sorted(set(windows)) == sessions
    assert sorted(j["task"] for j in jobs["evaluate"]) == ["states", "steps"]


def test_check_counts_the_sessions_of_each_task(tmp_path):
    workdir = _workdir(tmp_path)
    shown = subprocess.run([sys.executable, "-m", "egoinstruct.cli", "check"], cwd=workdir, capture_output=True,
                           text=True, check=True).stdout
    assert "4 annotated sessions (steps 3, states 2)" in shown


def test_the_tasks_column_names_known_tasks(tmp_path):
    workdir = make_workdir(tmp_path, ["s01"], tasks={"s01": "steps,moods"})
    result = snakemake(workdir, "-n", check=False)
    assert result.returncode != 0
    assert "annotations.tsv: line 2, column tasks: unknown task 'moods'" in result.stdout + result.stderr


@pytest.mark.slow
def test_steps_only_and_states_only_sessions_run_to_the_report(tmp_path):
    workdir = _workdir(tmp_path)
    snakemake(workdir, "--cores", "2")
    results = workdir / "results"
    # the demo wrote only the tiers the sheet names, and validation kept exactly those
    for session, cell in TASKS.items():
        tiers = set(read_validated(results / "sessions" / session / "annotations.parquet").tier)
        assert tiers == (set(cell.split(",")) if cell else {"steps", "states"}), session
        written = pd.read_csv(workdir / "resources" / "demo" / session / "annotations.tsv", sep="\t")
        assert set(written.tier) == tiers or session == "s01"  # s01's sheet row is its ELAN file
    for task, sessions in (("steps", STEPS_SESSIONS), ("states", STATES_SESSIONS)):
        folds = json.loads((results / "models" / task / "folds.json").read_text())
        assert folds["task"] == task and sorted(folds["session_fold"]) == sessions
        for method in [*METHODS[task], "mllm-gemma3-270m"]:
            predicted = sorted(p.stem for p in (results / "predictions" / task / method).glob("*.parquet"))
            assert predicted == sessions, (task, method)
        metrics = json.loads((results / "metrics" / task / "metrics.json").read_text())
        assert sorted(metrics["sessions"]) == sessions
        assert all(sorted(m["sessions"]) == sessions for m in metrics["methods"].values())
        # the assembled tables carry the other task's labels as nulls only
        column = "step" if task == "steps" else "state"
        for session in SESSIONS:
            table = pd.read_parquet(results / "sessions" / session / "dataset.parquet", columns=[column])
            assert table[column].notna().any() == (session in sessions), (task, session)
    # the report says how many sessions each task was scored on
    scored = pd.read_csv(results / "report" / "tables" / "scored_sessions.csv").set_index("task")
    assert scored.n_sessions.to_dict() == {"steps": 3, "states": 2}
    assert scored.loc["states", "sessions"] == "s01, s04"
    html = (results / "report" / "index.html").read_text()
    assert "Scored: steps on 3 sessions (s01, s02, s03); states on 2 sessions (s01, s04)." in html
    assert "Scored on 2 session(s) with states labels: s01, s04." in html
    assert "Scored: steps on 3 sessions" in (results / "report" / "summary.md").read_text()

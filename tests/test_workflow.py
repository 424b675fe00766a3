"""The workflow itself: lint, dry runs (demo, 38 sessions), bad inputs, and a real end-to-end run."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from egoinstruct.dataset import read_dataset
from egoinstruct.demo import demo_sheets
from egoinstruct.paths import REPO_ROOT
from egoinstruct.report.browser import (
    chromium_executable,
    headless_chromium,
    open_page,
    wait_for_videos,
)
from egoinstruct.tables import read_table

from workflow_utils import ACCEPTED_LINT, lints, make_workdir, snakemake

PAPER_SESSIONS = [f"s{i:02d}" for i in range(1, 39)]


def _jobs(dry_run_stdout: str) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry run."""
    counts: dict[str, int] = {}
    table = dry_run_stdout.split("Job stats:", 1)[1]
    for line in table.splitlines():
        match = re.match(r"^(\w+)\s+(\d+)\s*$", line.strip())
        if match and match.group(1) != "total":
            counts[match.group(1)] = int(match.group(2))
    return counts


def test_bundled_sheets_are_the_demo_sheets():
    recordings, annotations = demo_sheets([f"s{i:02d}" for i in range(1, 7)], Path("resources/demo"))
    bundled = pd.read_csv(REPO_ROOT / "config" / "recordings.tsv", sep="\t", dtype=str)
    assert bundled.equals(recordings.astype(str)[bundled.columns.tolist()])
    bundled_ann = pd.read_csv(REPO_ROOT / "config" / "annotations.tsv", sep="\t", dtype=str)
    assert bundled_ann.equals(annotations.astype(str)[bundled_ann.columns.tolist()])


def test_lint(tmp_path):
    result = snakemake(make_workdir(tmp_path, ["s01"]), "--lint", check=False)
    output = result.stdout + result.stderr
    found = [lint for lint in lints(output) if lint != ACCEPTED_LINT]
    assert not found, output
    assert result.returncode == 0 or lints(output), output


def test_dry_run_of_the_demo(tmp_path):
    result = snakemake(make_workdir(tmp_path, [f"s{i:02d}" for i in range(1, 7)]), "-n")
    jobs = _jobs(result.stdout)
    assert jobs["demo_session"] == 6
    assert jobs["probe_device"] == 18 and jobs["validate_session"] == 6
    assert jobs["sync_device"] == 18 and jobs["frames"] == 18 and jobs["session_audio"] == 18
    assert jobs["all"] == 1


def test_dry_run_scales_to_the_papers_38_sessions(tmp_path):
    workdir = make_workdir(tmp_path, PAPER_SESSIONS)
    start = time.perf_counter()
    result = snakemake(workdir, "-n", "--quiet", "rules")
    elapsed = time.perf_counter() - start
    jobs = _jobs(result.stdout)
    assert jobs["demo_session"] == 38 and jobs["frames"] == 38 * 3
    print(f"dry run of 38 sessions: {elapsed:.1f} s")  # reported in docs/benchmarks.md


@pytest.mark.parametrize("edit,expected", [
    (lambda r: r.replace("\tlearner\tvideo", "\tstudent\tvideo", 1), r"column role = 'student'.*allowed"),
    (lambda r: r.replace("\tvideo\t", "\tmovie\t", 1), r"column kind = 'movie'"),
    (lambda r: r + r.splitlines()[1] + "\n", r"line \d+: repeats line 2 .*list each input once"),
])
def test_bad_sample_sheet_stops_before_any_job(tmp_path, edit, expected):
    workdir = make_workdir(tmp_path, ["s01"])
    sheet = workdir / "config" / "recordings.tsv"
    sheet.write_text(edit(sheet.read_text()))
    result = snakemake(workdir, "-n", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert re.search(expected, output), output
    assert "config/recordings.tsv: line" in output


def test_missing_real_file_is_named(tmp_path):
    workdir = make_workdir(tmp_path, ["s01"], enabled=False)
    result = snakemake(workdir, "-n", check=False)
    assert result.returncode != 0
    assert re.search(r"recordings.tsv: line 2, column path: resources/demo/s01/\S+ does not exist", result.stdout + result.stderr)


@pytest.mark.slow
def test_end_to_end_on_tiny_demo(tmp_path):
    """Generate two short demo sessions and run everything; check sync against the truth."""
    workdir = make_workdir(tmp_path, ["s01", "s02"], duration_s=12)
    snakemake(workdir, "--cores", "2")
    for session in ("s01", "s02"):
        base = workdir / "results" / "sessions" / session
        probe = json.loads((base / "probe.json").read_text())
        assert probe["reference_device"] == "instructor_aria"
        assert probe["annotations"]["procedure"] in ("block_assembly", "paper_folding")
        sync = json.loads((base / "sync.json").read_text())
        truth = json.loads((workdir / "resources" / "demo" / session / "truth" / "truth.json").read_text())
        for device, clock in sync["devices"].items():
            assert clock["offset_s"] == pytest.approx(truth["devices"][device]["offset_s"], abs=1 / 15)
        alignment = json.loads((base / "audio_alignment.json").read_text())
        assert alignment["max_abs_residual_lag_s"] < 1 / 15
        assert (base / "sync.png").stat().st_size > 1000
        frames = pd.read_parquet(base / "frames" / "exo_gopro.parquet")
        assert frames.t.iloc[0] >= 0 and frames.t.is_monotonic_increasing
    overview = pd.read_csv(workdir / "results" / "data" / "inputs_overview.tsv", sep="\t")
    assert len(overview) == 6
    # each recording's video is decoded once (the analysis stream); the stages decode the stream
    decodes = Counter(line.split("decoding video ", 1)[1].strip() for log in (workdir / "logs").rglob("*.log")
                      for line in log.read_text().splitlines() if "decoding video " in line)
    sheet = pd.read_csv(workdir / "config" / "recordings.tsv", sep="\t")
    videos = sheet.loc[sheet.kind == "video", "path"].tolist()
    assert len(videos) == 6 and all(decodes[v] == 1 for v in videos), decodes
    streams = {name: n for name, n in decodes.items() if "analysis stream" in name}
    # frames, features, and on head cameras faces (+ head motion without an MPS trajectory)
    assert len(streams) == 6 and all(2 <= n <= 4 for n in streams.values()), streams
    # baselines: two annotated sessions -> leave-one-session-out; each session predicted by the
    # model of its own fold, in the shared predictions contract
    folds = {task: json.loads((workdir / "results" / "models" / task / "folds.json").read_text())
             for task in ("steps", "states")}
    for task in ("steps", "states"):
        assert folds[task]["k"] == 2 and sorted(folds[task]["session_fold"]) == ["s01", "s02"]
    for session in ("s01", "s02"):
        data = read_dataset(workdir / "results" / "sessions" / session / "dataset.parquet")
        duration = json.loads((workdir / "results" / "sessions" / session / "probe.json").read_text())["session_duration_s"]
        assert len(data.t) == math.ceil(duration * 5 - 1e-9) and data.features["text"].shape[1] == 4 + 3 + 384
        for task, method in [("steps", "asformer"), ("steps", "mstcn"), ("states", "bigru"), ("states", "gbdt"),
                             ("states", "majority")]:
            predictions = read_table(workdir / "results" / "predictions" / task / method / f"{session}.parquet",
                                     "predictions").to_pandas()
            assert len(predictions) == len(data.t)
            fold = folds[task]["session_fold"][session]
            assert (predictions.fold == fold).all()
            trained_on = json.loads((workdir / "results" / "models" / task / method /
                                     f"fold{fold}" / "training.json").read_text())
            assert session not in trained_on["train_sessions"]
    assert (workdir / "results" / "report" / "index.html").stat().st_size > 10_000
    assert "Synthetic data: 2 of 2 sessions" in (workdir / "results" / "report" / "summary.md").read_text()
    check_explorer_pages(workdir / "results" / "report", ["s01", "s02"])
    # the demo sessions against their truth: one rule's output, read by the report and check-demo
    quality = json.loads((workdir / "results" / "data" / "demo_quality.json").read_text())
    assert quality["sessions"] == ["s01", "s02"] and quality["speech_summary"]["sessions"] == 2
    assert quality["sync_summary"]["worst_abs_error_ms"] < quality["sync_summary"]["frame_period_ms"]
    shown = subprocess.run([sys.executable, "-m", "egoinstruct.cli", "check-demo", "--results",
                            str(workdir / "results")], capture_output=True, text=True, check=True).stdout
    assert "synthetic demo sessions s01, s02" in shown and "WER" in shown
    # nothing left to do: an unchanged rerun schedules no job
    assert "Nothing to be done" in snakemake(workdir, "-n").stdout
    # Snakemake's HTML report renders
    snakemake(workdir, "--report", str(workdir / "report.html"))
    assert (workdir / "report.html").stat().st_size > 10_000


def check_explorer_pages(report, sessions):
    """The report links one explorer page per session; each opens offline in headless Chromium
    (when there is one: required under CI) with its videos, gaze and every method's timeline."""
    index = (report / "index.html").read_text()
    for session in sessions:
        assert f'href="sessions/{session}.html"' in index and (report / "sessions" / f"{session}.html").is_file()
    if chromium_executable() is None:
        assert not os.environ.get("CI"), "Chromium missing: run tests/browser/install-chromium.sh"
        return
    with headless_chromium() as browser:
        opened = open_page(browser, report / "sessions" / f"{sessions[0]}.html")
        wait_for_videos(opened.page)
        assert opened.errors == [] and opened.remote_requests == []
        page = opened.page
        assert page.locator("video").count() == 3 and page.locator(".utt").count() > 3
        lanes = page.eval_on_selector_all(".lane", "lanes => lanes.map(l => l.dataset.id)")
        for expected in ("truth:steps", "truth:states", "pred:steps:asformer", "pred:states:gbdt", "gaze:learner_aria",
                         "speech:instructor", "sync:exo_gopro"):
            assert expected in lanes, lanes
        # at an instant with gaze in the image, the point is drawn where the gaze table says
        gaze = pd.read_parquet(report.parent / "sessions" / sessions[0] / "gaze" / "learner_aria.parquet")
        row = gaze[gaze.in_frame & (gaze.t > 2.0)].iloc[0]
        page.evaluate(f"egoExplorer.seek({row.t})")
        wait_for_videos(page)
        x, shown_width = page.evaluate("""() => {
            const figure = document.querySelector('figure[data-device=learner_aria]');
            return [Number(figure.dataset.gazeX), figure.querySelector('video').clientWidth];
        }""")
        width = json.loads(pq.read_schema(report.parent / "sessions" / sessions[0] / "gaze" /
                                          "learner_aria.parquet").metadata[b"egoinstruct.camera"])["width"]
        assert x == pytest.approx(row.u_px * shown_width / width, abs=0.2)


@pytest.mark.slow
def test_failed_job_leaves_nothing_and_resumes(tmp_path):
    """A bad annotation label fails validate_session without writing probe.json; fixing it
    and rerunning completes only what is missing."""
    workdir = make_workdir(tmp_path, ["s01", "s02"], duration_s=10)  # s02 uses the TSV
    snakemake(workdir, "--cores", "2", "results/sessions/s02/probe/instructor_aria.json")  # demo data
    annotations = workdir / "resources" / "demo" / "s02" / "annotations.tsv"
    good = annotations.read_text()
    table = pd.read_csv(annotations, sep="\t")
    table.loc[table.tier == "states", "label"] = "silently_working"
    table.to_csv(annotations, sep="\t", index=False)
    result = snakemake(workdir, "--cores", "2", "results/sessions/s02/probe.json", check=False)
    assert result.returncode != 0
    assert "unknown label 'silently_working'" in (workdir / "logs" / "validate_session" / "s02.log").read_text()
    assert not (workdir / "results" / "sessions" / "s02" / "probe.json").exists()
    annotations.write_text(good)
    rerun = snakemake(workdir, "--cores", "2", "results/sessions/s02/probe.json")
    assert "demo_session" not in rerun.stderr.split("Job stats:")[-1]
    assert (workdir / "results" / "sessions" / "s02" / "probe.json").exists()

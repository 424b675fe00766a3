"""The gaze and visual-feature rules in the workflow: job plan, and a real run on tiny demo data
checked against the generator's truth."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from egoinstruct.gaze.check import GazeFiles, gaze_errors
from egoinstruct.tables import read_table, table_metadata
from egoinstruct.visual.features import read_embeddings

from workflow_utils import make_workdir, snakemake


def _jobs(stdout: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in stdout.split("Job stats:", 1)[1].splitlines():
        match = re.match(r"^(\w+)\s+(\d+)\s*$", line.strip())
        if match and match.group(1) != "total":
            counts[match.group(1)] = int(match.group(2))
    return counts


def _set(workdir: Path, section: str, **values: object) -> None:
    path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    for key, value in values.items():
        target = config[section]
        *parents, leaf = key.split("__")
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def test_gaze_jobs_per_device(tmp_path):
    workdir = make_workdir(tmp_path, ["s01", "s02"])
    jobs = _jobs(snakemake(workdir, "-n", "--quiet", "rules").stdout)
    # two head cameras per session have gaze and faces; all three videos get features
    assert jobs["gaze"] == 4 and jobs["faces"] == 4 and jobs["head_motion"] == 4
    assert jobs["visual_features"] == 6 and jobs["gaze_plot"] == 2
    assert "gaze_debug" not in jobs  # only when asked for
    _set(workdir, "gaze_debug", enabled=True)
    _set(workdir, "features", roles=["instructor", "learner"])
    jobs = _jobs(snakemake(workdir, "-n", "--quiet", "rules").stdout)
    assert jobs["gaze_debug"] == 2  # the first session's head cameras
    assert jobs["visual_features"] == 4


@pytest.mark.slow
def test_gaze_stage_end_to_end_against_the_truth(tmp_path):
    workdir = make_workdir(tmp_path, ["s01", "s02"], duration_s=12)
    _set(workdir, "gaze_debug", enabled=True, duration_s=3)
    # this stage's outputs only (other stages have their own tests)
    targets = [f"results/sessions/{s}/{name}" for s in ("s01", "s02") for name in (
        "gaze.png", "visual/exo_gopro.parquet", "gaze_windows/instructor_aria.parquet")]
    targets += [f"results/sessions/s01/gaze_debug/{d}.gif" for d in ("instructor_aria", "learner_aria")]
    snakemake(workdir, "--cores", "2", *targets)
    errors = gaze_errors([
        GazeFiles(s, d, workdir / "results" / "sessions" / s / "gaze" / f"{d}.parquet",
                  workdir / "resources" / "demo" / s / "truth" / f"frames_{d}.parquet")
        for s in ("s01", "s02") for d in ("instructor_aria", "learner_aria")
    ])
    assert len(errors) == 4 and set(errors.layout) == {"gen1_v2", "gen1_v3", "gen2"}
    exact = errors[errors.layout != "gen1_v2"]
    assert (exact.median_px_error < 0.5).all()  # depth from the file or vergence: on the truth
    old = errors[errors.layout == "gen1_v2"]
    assert (old.median_px_error < 20).all()  # 1 m default depth: the camera–eye parallax
    assert (errors.face_accuracy > 0.9).all() and (errors.target_accuracy > 0.75).all()
    base = workdir / "results" / "sessions" / "s01"
    gaze = read_table(base / "gaze" / "instructor_aria.parquet", "gaze").to_pandas()
    assert np.allclose(np.diff(gaze.t), 1 / 30) and gaze.t.iloc[0] >= 0
    assert set(gaze.event) <= {"fixation", "saccade", "unclassified", "gap"}
    assert (gaze.event == "fixation").mean() > 0.5 and gaze.fixation_id.max() > 5
    meta = table_metadata(base / "gaze" / "instructor_aria.parquet")
    assert meta["clock_source"] == "tag" and meta["camera_source"] == "calibration"
    windows = read_table(base / "gaze_windows" / "instructor_aria.parquet", "gaze_windows").to_pandas()
    assert windows.t_start.iloc[0] == 0 and (windows.known_fraction <= 1).all()
    t, embeddings = read_embeddings(base / "visual" / "exo_gopro.parquet")
    assert embeddings.shape[1] == 1280 and np.allclose(np.diff(t), 0.2)
    motion = pd.read_parquet(base / "head_motion" / "learner_aria.parquet")
    assert motion.angular_speed_deg_s.notna().mean() > 0.9
    assert (base / "gaze.png").stat().st_size > 10_000
    assert (base / "gaze_debug" / "instructor_aria.gif").stat().st_size > 10_000
    assert "Nothing to be done" in snakemake(workdir, "-n", *targets).stdout

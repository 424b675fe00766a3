"""Run the real workflow in a scratch working directory (never in the checkout's results/)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from egoinstruct.demo import demo_sheets
from egoinstruct.paths import REPO_ROOT

SNAKEMAKE = [sys.executable, "-m", "snakemake"]

# The one lint the workflow does not follow, on purpose: every job runs in the environment that
# Snakemake runs in (the pinned .venv); the rules name no conda environment or container, so
# nothing claims a per-rule deployment that is not tested (README, "Conda users").
ACCEPTED_LINT = "Specify a conda environment or container for each rule."


def lints(output: str) -> list[str]:
    """The lint messages of `snakemake --lint` (one per rule or file and kind)."""
    return re.findall(r"^\s+\* (.+?):?$", output, re.M)


def make_workdir(
    workdir: Path, sessions: list[str], tasks: dict[str, str] | None = None, **demo_overrides: object
) -> Path:
    """A working directory with config/config.yaml and demo sample sheets for ``sessions``;
    ``tasks``: session -> the annotation sheet's tasks cell (a column written only when given)."""
    config = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())
    config["labels_dir"] = str(REPO_ROOT / "resources" / "labels")
    config["demo"].update(demo_overrides)
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    recordings, annotations = demo_sheets(sessions, Path(config["demo"]["root"]))
    if tasks is not None:
        annotations["tasks"] = [tasks.get(s, "") for s in annotations.session]
    recordings.to_csv(workdir / "config" / "recordings.tsv", sep="\t", index=False)
    annotations.to_csv(workdir / "config" / "annotations.tsv", sep="\t", index=False)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return workdir


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """Run snakemake on the repository's Snakefile with ``workdir`` as working directory."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        [*SNAKEMAKE, "-s", str(REPO_ROOT / "Snakefile"), "-d", str(workdir), *args],
        capture_output=True, text=True, env=env, timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def planned_jobs(workdir: Path, *args: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job a dry run (with ``args``) would run."""
    result = snakemake(workdir, "-n", *args)
    out = result.stdout + result.stderr  # the job list is logged to stderr
    jobs: list[tuple[str, dict[str, str]]] = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", out):
        match = re.match(r"(?:local)?rule (\w+):", block.strip())
        if not match:
            continue
        wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        pairs = dict(p.split("=", 1) for p in wildcards.group(1).split(", ")) if wildcards else {}
        jobs.append((match.group(1), pairs))
    return jobs

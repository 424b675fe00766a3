"""The workflow on a real SLURM scheduler: one demo session up to its session clock and frames,
submitted job by job through profiles/slurm (snakemake-executor-plugin-slurm), then the same
targets run locally; the outputs must be the same.

Needs a SLURM cluster that takes jobs from this machine and shares its file system:
`tests/slurm/start-local-cluster.sh` (as root) installs and starts a one-node cluster on
localhost, and `.ci/run` does so before the tests. Without one the test is skipped, saying why.

Job states are polled with squeue when the cluster keeps finished jobs visible long enough
(MinJobAge, as the local cluster does: it has no accounting database), else with sacct.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from egoinstruct.paths import REPO_ROOT

from workflow_utils import make_workdir, snakemake

pytestmark = pytest.mark.slow

PROFILE = REPO_ROOT / "profiles" / "slurm"
START_SCRIPT = "tests/slurm/start-local-cluster.sh"
SESSION = "s01"
# The plugin waits this long before its first status query, then 10 s longer after each query
# that finds nothing finished; its default (40 s) would make a 6-level DAG take minutes longer.
FIRST_STATUS_CHECK_S = 2
# Keys of JSON outputs that hold measured times, which differ between any two runs.
TIMING_KEY = re.compile(r"^(seconds|elapsed.*|.*_seconds)$")


def _run(*cmd: str) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _min_job_age_s() -> int | None:
    out = _run("scontrol", "show", "config")
    match = re.search(r"^MinJobAge\s*=\s*(\d+)", out.stdout if out else "", re.M)
    return int(match.group(1)) if match else None


def _status_command() -> tuple[str | None, str]:
    """(status command for the plugin, None and why the test cannot run)."""
    if shutil.which("sbatch") is None:
        return None, (f"sbatch not found: no SLURM on this machine ({START_SCRIPT}, as root, installs "
                      "and starts a one-node cluster)")
    out = _run("sinfo", "--noheader", "--format=%T")
    if out is None or out.returncode != 0:
        reason = out.stderr.strip() if out is not None else "no answer in 30 s"
        return None, f"SLURM is installed but not up (sinfo: {reason}); start it with {START_SCRIPT}"
    states = {state.rstrip("*~#$@%!^-") for state in out.stdout.split()}
    if not states & {"idle", "mixed", "allocated", "completing"}:
        return None, f"no SLURM node takes jobs (node states: {sorted(states) or 'none'}); see {START_SCRIPT}"
    min_job_age = _min_job_age_s()
    if min_job_age is not None and min_job_age >= 3 * FIRST_STATUS_CHECK_S + 60:
        return "squeue", ""
    sacct = _run("sacct", "--noheader", "-X", "--format=JobID", "--starttime=now-1hours")
    if sacct is not None and sacct.returncode == 0:
        return "sacct", ""
    return None, (f"SLURM has no accounting (sacct fails) and MinJobAge={min_job_age} s is too short for "
                  "polling with squeue; see the slurm.conf that " + START_SCRIPT + " writes")


def _targets(workdir: Path) -> list[str]:
    """The session clock and the frames of every camera of SESSION (a 17-job DAG: each camera's analysis stream too)."""
    sheet = pd.read_csv(workdir / "config" / "recordings.tsv", sep="\t")
    videos = sheet[(sheet.session == SESSION) & (sheet.kind == "video")].device
    base = f"results/sessions/{SESSION}"
    return [f"{base}/sync.json", *(f"{base}/frames/{device}.parquet" for device in videos)]


def _local_rules() -> set[str]:
    """The rules the Snakefile declares as localrules."""
    block = re.search(r"^localrules:\n((?:    \w+,?\n)+)", (REPO_ROOT / "Snakefile").read_text(), re.M)
    assert block, "the Snakefile declares its localrules"
    return {name.strip(" ,") for name in block.group(1).splitlines()}


def _job_stats(output: str) -> Counter[str]:
    """Rule -> job count from the 'Job stats' table Snakemake prints when it starts."""
    counts: Counter[str] = Counter()
    table = output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    for line in table.splitlines():
        match = re.match(r"^(\w+)\s+(\d+)\s*$", line.strip())
        if match and match.group(1) != "total":
            counts[match.group(1)] = int(match.group(2))
    return counts


def _without_timing(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_timing(v) for k, v in value.items() if not TIMING_KEY.match(k)}
    if isinstance(value, list):
        return [_without_timing(v) for v in value]
    return value


def _outputs(workdir: Path) -> dict[str, object]:
    """Every JSON and Parquet output of SESSION, as comparable values."""
    base = workdir / "results" / "sessions" / SESSION
    found: dict[str, object] = {}
    for path in sorted(base.rglob("*.json")):
        found[str(path.relative_to(base))] = _without_timing(json.loads(path.read_text()))
    for path in sorted(base.rglob("*.parquet")):
        found[str(path.relative_to(base))] = pd.read_parquet(path)
    return found


def test_demo_session_through_slurm_matches_a_local_run(tmp_path):
    status_command, why_not = _status_command()
    if status_command is None:
        pytest.skip(why_not)

    # On SLURM: every job an sbatch job. The plugin submits `<this python> -m snakemake ...` with
    # the submitting environment (--export=ALL), so jobs run this .venv's interpreter; that a
    # job can import egoinstruct at all shows it did.
    on_slurm = make_workdir(tmp_path / "slurm", [SESSION], duration_s=10)
    targets = _targets(on_slurm)
    start = time.perf_counter()
    run = snakemake(on_slurm, "--workflow-profile", str(PROFILE), "--jobs", "4",
                    "--slurm-status-command", status_command,
                    "--slurm-init-seconds-before-status-checks", str(FIRST_STATUS_CHECK_S),
                    "--slurm-keep-successful-logs", "--retries", "0", *targets, timeout=1200)
    slurm_s = time.perf_counter() - start
    output = run.stdout + run.stderr
    planned = _job_stats(output)
    assert sum(planned.values()) >= 10 and planned["frames"] == len(targets) - 1, output
    # Bookkeeping rules (the Snakefile's localrules) ran where Snakemake runs, not through sbatch.
    local_rules = _local_rules()
    assert planned["sync_session"] == 1 and "sync_session" in local_rules
    planned = Counter({rule: n for rule, n in planned.items() if rule not in local_rules})

    # Every other job went through SLURM and finished there as COMPLETED, one job per rule instance.
    submitted = dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", output))
    assert len(submitted) == sum(planned.values()), output
    ids = ",".join(submitted.values())
    queue = subprocess.run(["squeue", "--states=all", "--noheader", f"--jobs={ids}", "--format=%i|%T|%k"],
                           capture_output=True, text=True, check=False)
    if status_command == "squeue":
        rows = [line.split("|", 2) for line in queue.stdout.split()]
    else:  # finished jobs may be gone from squeue; the accounting database has them
        acct = subprocess.run(["sacct", "--noheader", "-X", "--parsable2", f"--jobs={ids}",
                               "--format=JobID,State,Comment"], capture_output=True, text=True, check=True)
        rows = [line.split("|", 2) for line in acct.stdout.splitlines()]
    assert {job_id for job_id, _, _ in rows} == set(submitted.values()), queue.stdout + queue.stderr
    assert {state for _, state, _ in rows} == {"COMPLETED"}, rows
    ran = Counter(re.match(r"rule_(\w+?)(_wildcards_.*)?$", comment).group(1) for _, _, comment in rows)
    assert ran == planned
    # ... each with its SLURM log (kept by --slurm-keep-successful-logs) under the profile's logdir.
    logs = list((on_slurm / "logs" / "slurm").rglob("*.log"))
    assert {log.stem for log in logs} == set(submitted.values())

    # Locally, in a second working directory, from scratch (the demo generator is seeded).
    local = make_workdir(tmp_path / "local", [SESSION], duration_s=10)
    start = time.perf_counter()
    snakemake(local, "--cores", "2", *targets)
    local_s = time.perf_counter() - start
    print(f"{sum(planned.values())} jobs: SLURM {slurm_s:.0f} s (status by {status_command}), local {local_s:.0f} s")

    # Same inputs (byte for byte), same outputs (JSON modulo timing fields, Parquet tables).
    for path in sorted((on_slurm / "resources" / "demo" / SESSION).rglob("*")):
        if path.is_file():
            twin = local / path.relative_to(on_slurm)
            assert twin.read_bytes() == path.read_bytes(), f"demo file {path.name} differs"
    got, want = _outputs(on_slurm), _outputs(local)
    assert sorted(got) == sorted(want) and len(got) >= 3 + 3 + 1 + 3
    for name, value in want.items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(got[name], value, obj=name)
        else:
            assert got[name] == value, name

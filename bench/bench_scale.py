"""Scale: the paper's dataset (38 sessions x 12 min, about 8 h of recordings) on an 8-core machine.

Prints three things:

1. DAG: the `snakemake -n` time for a 38-session x 12-minute sample sheet (the dry run of
   bench_dag.py; the demo files are rule outputs, so nothing needs to exist).
2. Measured: the whole per-session preprocessing of a small subset, by default 2 demo sessions of
   120 s, in a scratch directory with `snakemake --cores 2`: first the demo generation, then every
   output under results/sessions/ that `rule all` asks for (probe/validate, sync, audio, frames,
   transcription, prosody, gaze, faces, head motion, visual features, the session's assembled
   dataset table; not the cross-session stages: folds, baselines, MLLMs, evaluation). The wall time of each of the two runs, their CPU time
   (getrusage of all their finished processes, exact), and per rule the jobs' wall time `s` and
   peak RSS from their Snakemake `benchmark:` files. (The benchmark files' cpu_time is not used:
   Snakemake samples it every 0.5 s for 15 s and then only every 30 s, so it misses most of the
   CPU time of jobs longer than 15 s.)
3. Projected: the wall time of that preprocessing for N sessions x D seconds on C cores (default
   38 x 720 s on 8), with this model:

   - Every job of a session scales linearly with the recording's length: its projected wall time
     is w = s * D / d (d: the measured sessions' length; s averaged over the measured sessions
     per rule and device). Per-job fixed costs (interpreter start-up, imports, model loading) do
     not really grow, so for long sessions this errs on the slow side.
   - A job holds min(threads, C) cores while it runs (Snakemake packs jobs by their declared
     threads), so the whole dataset needs W = N * sum over one session's jobs of
     w * min(threads, C) core-seconds.
   - Sessions are independent; within a session, jobs wait for their inputs, so no schedule is
     shorter than the longest chain of dependent jobs L (the critical path, from the DAG of the
     measured run with projected times).
   - Estimate: max(W / C, L), a lower bound that a greedy scheduler reaches closely when many
     jobs are ready at once, as with 38 independent sessions; W / C + L is printed as the
     pessimistic end (the classic bound for greedy list scheduling).
   - Wall times include waiting for a CPU: on a shared or busy machine (the load average is
     printed) they overstate the work. So the same estimate is also made with W from the measured
     CPU time instead (N / n * CPU time * D / d), which counts no waiting but also no I/O waits
     or idle threads: the two bracket the time on 8 dedicated cores, and agree on a quiet machine.

   Demo generation is measured but not projected: real recordings are not generated. The video
   size stays the demo's (320x240, 15 fps); real head-camera and GoPro video has many more pixels
   per frame, so decoding-bound rules (frames, faces, head motion, visual features) will take
   longer on it: rerun with --width/--height/--fps to measure that.

Options: --sessions, --duration-s, --cores (measured run), --project-sessions,
--project-duration-s, --project-cores, --width/--height/--fps (demo video), --keep DIR (run there
and keep it), --skip-dag.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from bench_dag import dry_run_seconds  # first: it puts tests/ on sys.path

from workflow_utils import make_workdir, snakemake

NOT_PROJECTED = {"demo_session"}  # synthetic data only; real recordings exist


@dataclass
class Job:
    rule: str
    jobid: int
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    benchmark: str | None = None
    threads: int = 1
    wildcards: dict[str, str] = field(default_factory=dict)

    @property
    def session(self) -> str:
        return self.wildcards.get("session", "")

    @property
    def key(self) -> tuple[str, str]:
        """Rule and device (sessions averaged over)."""
        return self.rule, self.wildcards.get("device", "")


def parse_dry_run(text: str) -> list[Job]:
    """Jobs of a `snakemake -n` printout (rule blocks with input/output/jobid/benchmark/...)."""
    jobs: list[Job] = []
    job: Job | None = None
    for line in text.splitlines():
        if match := re.match(r"^(?:local)?rule (\w+):$", line):
            job = Job(match.group(1), -1)
            jobs.append(job)
        elif job is not None and (match := re.match(r"^    (\w+): (.*)$", line)):
            name, value = match.groups()
            if name == "input":
                job.inputs = value.split(", ")
            elif name == "output":
                job.outputs = value.split(", ")
            elif name == "jobid":
                job.jobid = int(value)
            elif name == "benchmark":
                job.benchmark = value
            elif name == "threads":
                job.threads = int(value)
            elif name == "wildcards":
                job.wildcards = dict(item.split("=", 1) for item in value.split(", "))
        elif not line.startswith("    "):
            job = None
    return jobs


def per_session_targets(workdir: Path) -> list[str]:
    """The outputs of `rule all` that belong to one session (under results/sessions/)."""
    jobs = parse_dry_run(snakemake(workdir, "-n").stdout)
    everything = next(job for job in jobs if job.rule == "all").inputs
    return [path for path in everything if path.startswith("results/sessions/")]


def critical_path(jobs: list[Job], seconds: dict[int, float]) -> float:
    """Longest chain of dependent jobs, each weighted by its (projected) wall time."""
    producer = {path: job.jobid for job in jobs for path in job.outputs}
    deps = {job.jobid: {producer[p] for p in job.inputs if p in producer} for job in jobs}
    finish: dict[int, float] = {}

    def finish_time(jobid: int) -> float:
        if jobid not in finish:
            finish[jobid] = seconds.get(jobid, 0.0) + max((finish_time(d) for d in deps[jobid]), default=0.0)
        return finish[jobid]

    return max((finish_time(job.jobid) for job in jobs), default=0.0)


def read_benchmark(path: Path) -> dict[str, float]:
    row = pd.read_csv(path, sep="\t").iloc[-1]
    return {col: float(pd.to_numeric(row.get(col), errors="coerce")) for col in ("s", "max_rss")}


def timed_run(workdir: Path, *args: str) -> tuple[float, float]:
    """Wall time and CPU time (user + system of every finished process it started) of a snakemake run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    snakemake(workdir, *args, timeout=6 * 3600)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def clock(seconds: float) -> str:
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min {rest % 60:02d} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=2)
    parser.add_argument("--duration-s", type=float, default=120)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--project-sessions", type=int, default=38)
    parser.add_argument("--project-duration-s", type=float, default=720)
    parser.add_argument("--project-cores", type=int, default=8)
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--height", type=int, default=None)
    parser.add_argument("--fps", type=int, default=None)
    parser.add_argument("--keep", type=Path, default=None, help="run in this folder and keep it")
    parser.add_argument("--skip-dag", action="store_true")
    args = parser.parse_args()

    if not args.skip_dag:
        dag_s, dag_jobs = dry_run_seconds(args.project_sessions)
        print(f"dry run, {args.project_sessions} sessions x {args.project_duration_s / 60:g} min "
              f"({dag_jobs} jobs, whole workflow): {dag_s:.1f} s")

    demo = {"duration_s": args.duration_s}
    demo.update({k: v for k, v in (("width", args.width), ("height", args.height), ("fps", args.fps)) if v})
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_scale_"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        workdir = make_workdir(root, [f"s{i:02d}" for i in range(1, args.sessions + 1)], **demo)
        targets = per_session_targets(workdir)
        jobs = parse_dry_run(snakemake(workdir, "-n", *targets).stdout)
        demo_files = [path for job in jobs if job.rule in NOT_PROJECTED for path in job.outputs]
        cores = ("--cores", str(args.cores))
        demo_wall, demo_cpu = timed_run(workdir, *cores, *demo_files) if demo_files else (0.0, 0.0)
        run_wall, run_cpu = timed_run(workdir, *cores, *targets)
        load = os.getloadavg()
        bench = {job.jobid: read_benchmark(workdir / job.benchmark) for job in jobs if job.benchmark}
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    missing = sorted({job.rule for job in jobs if job.jobid not in bench})
    if missing:
        sys.exit(f"no benchmark file for rule(s) {', '.join(missing)}")

    counted = [job for job in jobs if job.rule not in NOT_PROJECTED]
    print(f"measured: {args.sessions} sessions x {args.duration_s:g} s "
          f"({args.sessions * args.duration_s / 60:g} min of recordings), snakemake --cores {args.cores}:")
    print(f"  demo generation: {len(jobs) - len(counted)} jobs, {demo_wall:.0f} s wall, {demo_cpu:.0f} s CPU")
    print(f"  preprocessing:   {len(counted)} jobs, {run_wall:.0f} s wall, {run_cpu:.0f} s CPU")
    print(f"  load average at the end (1, 5, 15 min): {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
          f"on {os.cpu_count()} cores")

    scale = args.project_duration_s / args.duration_s
    cores = args.project_cores
    wall = {job.jobid: bench[job.jobid]["s"] * scale for job in counted}

    # Per rule, per session (sessions averaged): jobs, threads, measured wall, projected core-seconds.
    rows: dict[str, dict] = defaultdict(lambda: {"jobs": 0.0, "threads": 1, "s": 0.0, "rss": 0.0, "core_s": 0.0})
    for job in jobs:
        row, measured = rows[job.rule], bench[job.jobid]
        row["jobs"] += 1 / args.sessions
        row["threads"] = job.threads
        row["s"] += measured["s"] / args.sessions
        row["rss"] = max(row["rss"], measured["max_rss"])
        if job.jobid in wall:
            row["core_s"] += wall[job.jobid] * min(job.threads, cores) / args.sessions

    print(f"\nper session: {args.duration_s:g} s measured (mean of {args.sessions} sessions), core-seconds "
          f"projected to {args.project_duration_s:g} s (x{scale:g}):")
    header = f"{'rule':<18}{'jobs':>5}{'threads':>8}{'wall s':>9}{'peak MB':>9}{'projected core-s':>18}"
    print(header)
    print("-" * len(header))
    for rule, row in sorted(rows.items(), key=lambda item: -item[1]["s"]):
        projected = "(demo data)" if rule in NOT_PROJECTED else f"{row['core_s']:.0f}"
        print(f"{rule:<18}{row['jobs']:>5.0f}{row['threads']:>8}{row['s']:>9.1f}{row['rss']:>9.0f}{projected:>18}")
    per_session = sum(row["core_s"] for row in rows.values())
    print(f"{'total':<18}{sum(r['jobs'] for r in rows.values()):>5.0f}{'':>8}"
          f"{sum(r['s'] for r in rows.values()):>9.1f}{'':>9}{per_session:>18.0f}")

    hours = args.project_sessions * args.project_duration_s / 3600
    chain = critical_path(counted, wall)
    print(f"\nprojection: {args.project_sessions} sessions x {args.project_duration_s / 60:g} min "
          f"({hours:.1f} h of recordings) on {cores} cores, preprocessing only; "
          f"longest chain within a session {chain:.0f} s")
    for name, work in (("wall times", per_session * args.project_sessions),
                       ("CPU time", run_cpu * scale * args.project_sessions / args.sessions)):
        estimate = max(work / cores, chain)
        print(f"  from {name + ':':<11} {work:>7.0f} core-s / {cores} = {work / cores:>5.0f} s -> about "
              f"{clock(estimate)} (pessimistic {clock(work / cores + chain)}), "
              f"{estimate / (hours * 3600):.2f} x the recordings' duration")


if __name__ == "__main__":
    main()

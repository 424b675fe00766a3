"""Scale: the paper's dataset (38 sessions x 12 min, about 8 h of recordings) on an 8-core machine.

Prints three things:

1. DAG: the `snakemake -n` time for a 38-session x 12-minute sample sheet (the dry run of
   bench_dag.py; the demo files are rule outputs, so nothing needs to exist).
2. Measured: the whole per-session preprocessing of a small subset, by default 2 demo sessions of
   120 s, in a scratch directory with `snakemake --cores 2`: first the demo generation, then every
   output under results/sessions/ that `rule all` asks for (probe/validate, sync, audio, analysis
   video, frames, transcription, prosody, gaze, faces, head motion, visual features, the session's
   assembled dataset table; not the cross-session stages: folds, baselines, MLLMs, evaluation).
   Then the same again with the same number of sessions at a short length (--short-duration-s,
   default 15 s), in their own working directory and with their own demo files. The wall time of
   each run, its CPU time (getrusage of all its finished processes, exact), and per rule the jobs'
   wall time `s` and peak RSS from their Snakemake `benchmark:` files. (The benchmark files'
   cpu_time is not used: Snakemake samples it every 0.5 s for 15 s and then only every 30 s, so it
   misses most of the CPU time of jobs longer than 15 s.)
3. Projected: the wall time of that preprocessing for N sessions x D seconds on C cores (default
   38 x 720 s on 8), with this model:

   - Every job of a session costs a fixed part plus a part per second of recording: its projected
     wall time is w = f + v * D. A job's fixed cost (interpreter start-up, imports, model loading:
     several seconds for the torch-based rules) does not grow with the recording's length, so
     scaling a short measured session's whole wall time by D / d multiplies that fixed cost too,
     and errs on the slow side by a lot for long sessions (x12 for 60 s measured, 720 s
     projected). f and v come from the two measured lengths, per rule and device (the measured
     sessions' jobs averaged): with wall times s_short at d_short and s at d, the per-second cost
     is v = max(0, (s - s_short) / (d - d_short)) and the fixed cost f = max(0, s - v * d). A job
     missing from the short run falls back to linear scaling, w = s * D / d (a note says which).
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
     CPU time instead, fitted the same way at the level of the run: per session CPU(d) = F + V * d
     from the short and the long run, W = N * (F + V * D). It counts no waiting but also no I/O
     waits or idle threads: the two bracket the time on 8 dedicated cores, and agree on a quiet
     machine.
   - What still errs: the jobs of a measured run compete for its cores (more so in the long run,
     whose long jobs overlap more), which the wall-time fit reads as cost; and a per-second cost
     that is not linear in the length (memory or cache effects, a model's cost per window that
     changes with the amount of speech or faces) is extrapolated from two points as a line.

   The projection lines also print the linear model's figures (w = s * D / d, the CPU time scaled
   by D / d) beside the fitted ones; --short-duration-s 0 measures no short run and projects with
   the linear model only. Demo generation is measured but not projected: real recordings are not
   generated.

Video size: --preset sets the demo video's width, height and frame rate to a real camera's
(aria-gen1: 1408x1408 at 20 fps, aria-gen2: 2016x1512 at 10 fps, gopro-1080p30: 1920x1080 at
30 fps, gopro-4k30: 3840x2160 at 30 fps); the default, demo, keeps the config's own (320x240 at
15 fps), where the decoding-bound rules (analysis video, frames, faces, head motion, visual
features) are far cheaper than on real video. --width/--height/--fps override the preset. The
demo generator makes every device's video the same size, so a preset stands for a dataset in
which all three cameras (two head cameras and the exo one) record at that size.

Reference: the preprocessing is measured twice in the same run, on the same demo files (generated
once, in the first run's folder; the second run's sample sheets point at them; the same for the
short runs, whose demo files are generated once in the short new run's folder): "new", the config
as it is, and "reference", the same code with `analysis.enabled: false`, which runs each
consumer (frames, faces, head motion, visual features) on the source recording as before the
analysis video was added, i.e. the code before that change. Each prints its per-rule table and
projection; then a comparison: both ends' projected multiple of the recordings' duration and
their ratio new / reference (fitted; one line with the linear model's), and the projected
core-seconds per session of the decoding-bound rules in each. The runs are sequential (new, then
reference, then the short new and reference), so they do not compete for cores; --no-reference
measures the new one only.

Options: --sessions, --duration-s, --short-duration-s (0: no short run, linear model only),
--cores (measured runs), --project-sessions, --project-duration-s, --project-cores, --preset,
--width/--height/--fps (demo video), --reference/--no-reference, --keep DIR (run in DIR/new,
DIR/reference, DIR/new_short and DIR/reference_short and keep them), --skip-dag.
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
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import yaml
from bench_dag import dry_run_seconds  # first: it puts tests/ on sys.path

from workflow_utils import make_workdir, snakemake

NOT_PROJECTED = {"demo_session"}  # synthetic data only; real recordings exist
# Rules that decode video: the ones the analysis video changes (it decodes each source once).
DECODE_RULES = ("analysis_video", "frames", "faces", "head_motion", "visual_features")


class VideoSize(NamedTuple):
    width: int
    height: int
    fps: int


# Real cameras' video (RGB stream of Aria, GoPro modes); None: the config's own demo size.
PRESETS: dict[str, VideoSize | None] = {
    "demo": None,
    "aria-gen1": VideoSize(1408, 1408, 20),
    "aria-gen2": VideoSize(2016, 1512, 10),
    "gopro-1080p30": VideoSize(1920, 1080, 30),
    "gopro-4k30": VideoSize(3840, 2160, 30),
}


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


def demo_video(preset: str, width: int | None, height: int | None, fps: int | None) -> dict[str, int]:
    """The demo config's video overrides: the preset's size, then each explicit option over it."""
    size = PRESETS[preset]
    video = size._asdict() if size else {}
    video.update({k: v for k, v in (("width", width), ("height", height), ("fps", fps)) if v})
    return video


def disable_analysis(workdir: Path) -> None:
    """The reference config: analysis.enabled false, so each consumer decodes the source itself."""
    path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["analysis"] = {**(config.get("analysis") or {}), "enabled": False}
    path.write_text(yaml.safe_dump(config, sort_keys=False))


@dataclass(frozen=True)
class Plan:
    """The measured subset (at two lengths) and the projected dataset."""

    sessions: int
    duration_s: float
    short_duration_s: float  # 0: no short run, linear model only
    project_sessions: int
    project_duration_s: float
    project_cores: int

    @property
    def scale(self) -> float:
        """The linear model's factor D / d."""
        return self.project_duration_s / self.duration_s

    @property
    def recordings_s(self) -> float:
        """The projected dataset's total recording length."""
        return self.project_sessions * self.project_duration_s


def fit_cost(s_short: float, d_short: float, s_long: float, d_long: float) -> tuple[float, float]:
    """Fixed and per-second cost (f, v) of a cost measured as s_short at length d_short and s_long
    at d_long (d_long > d_short): v = max(0, slope), f = max(0, s_long - v * d_long)."""
    per_second = max(0.0, (s_long - s_short) / (d_long - d_short))
    return max(0.0, s_long - per_second * d_long), per_second


@dataclass
class Run:
    """One measured snakemake run of the per-session preprocessing."""

    label: str
    jobs: list[Job]  # its dry run, demo generation included where it ran
    bench: dict[int, dict[str, float]]  # jobid -> benchmark file's s, max_rss
    wall: float  # the preprocessing run only
    cpu: float
    load: tuple[float, float, float]  # load average at its end

    @property
    def counted(self) -> list[Job]:
        return [job for job in self.jobs if job.rule not in NOT_PROJECTED]

    def key_means(self) -> dict[tuple[str, str], float]:
        """Mean wall time of the projected jobs per rule and device (sessions averaged over)."""
        seconds: dict[tuple[str, str], list[float]] = {}
        for job in self.counted:
            seconds.setdefault(job.key, []).append(self.bench[job.jobid]["s"])
        return {key: sum(values) / len(values) for key, values in seconds.items()}


@dataclass
class RuleRow:
    """One rule per session (sessions averaged): jobs, threads, measured wall at both lengths,
    fitted fixed and per-second cost, projected core-seconds (fitted and linear)."""

    jobs: float = 0.0
    threads: int = 1
    s: float = 0.0
    s_short: float | None = None
    rss: float = 0.0
    fixed: float = 0.0
    per_second: float = 0.0
    core_s: float = 0.0
    linear_core_s: float = 0.0


@dataclass(frozen=True)
class Estimate:
    work: float  # core-seconds of the whole dataset
    seconds: float  # max(W / C, L)
    pessimistic: float  # W / C + L
    times_duration: float  # seconds / the recordings' duration


@dataclass(frozen=True)
class Summary:
    rows: dict[str, RuleRow]
    chain: float  # longest chain within a session, projected seconds (fitted)
    estimates: dict[str, Estimate]  # "wall times" and "CPU time" ends (fitted)
    linear_chain: float
    linear: dict[str, Estimate]  # the same with the linear model
    fitted: bool  # False: no short run, estimates are the linear ones
    fallback: list[tuple[str, str]]  # keys missing in the short run (scaled linearly)
    slower_short: list[tuple[str, str]]  # keys measured slower at the short length (v = 0: noise)
    cpu_fit: tuple[float, float] | None  # per session CPU time: fixed s, per-second s


def estimates(works: dict[str, float], chain: float, plan: Plan) -> dict[str, Estimate]:
    cores = plan.project_cores
    result = {}
    for name, work in works.items():
        seconds = max(work / cores, chain)
        result[name] = Estimate(work, seconds, work / cores + chain, seconds / plan.recordings_s)
    return result


def summarize(run: Run, short: Run | None, plan: Plan) -> Summary:
    """Per-rule rows and both ends' projections of ``run``, fitted with the ``short`` run
    (None: linear model only)."""
    cores, d, big_d = plan.project_cores, plan.duration_s, plan.project_duration_s
    linear = {job.jobid: run.bench[job.jobid]["s"] * plan.scale for job in run.counted}
    fits: dict[tuple[str, str], tuple[float, float]] = {}
    fallback: list[tuple[str, str]] = []
    slower_short: list[tuple[str, str]] = []
    if short is not None:
        short_means = short.key_means()
        for key, s_long in run.key_means().items():
            if key in short_means:
                fits[key] = fit_cost(short_means[key], plan.short_duration_s, s_long, d)
                if short_means[key] > s_long:
                    slower_short.append(key)
            else:
                fallback.append(key)
    fitted: dict[int, float] = {}
    rows: dict[str, RuleRow] = {}
    for job in run.jobs:
        row, measured = rows.setdefault(job.rule, RuleRow()), run.bench[job.jobid]
        row.jobs += 1 / plan.sessions
        row.threads = job.threads
        row.s += measured["s"] / plan.sessions
        row.rss = max(row.rss, measured["max_rss"])
        if job.jobid in linear:
            fixed, per_second = fits.get(job.key, (0.0, measured["s"] / d))
            fitted[job.jobid] = fixed + per_second * big_d if job.key in fits else linear[job.jobid]
            row.fixed += fixed / plan.sessions
            row.per_second += per_second / plan.sessions
            row.core_s += fitted[job.jobid] * min(job.threads, cores) / plan.sessions
            row.linear_core_s += linear[job.jobid] * min(job.threads, cores) / plan.sessions
    if short is not None:
        for job in short.jobs:
            if job.rule in rows:
                row = rows[job.rule]
                row.s_short = (row.s_short or 0.0) + short.bench[job.jobid]["s"] / plan.sessions
    linear_chain = critical_path(run.counted, linear)
    linear_ends = estimates({
        "wall times": sum(row.linear_core_s for row in rows.values()) * plan.project_sessions,
        "CPU time": run.cpu * plan.scale * plan.project_sessions / plan.sessions,
    }, linear_chain, plan)
    if short is None:
        return Summary(rows, linear_chain, linear_ends, linear_chain, linear_ends, False, [], [], None)
    cpu_fit = fit_cost(short.cpu / plan.sessions, plan.short_duration_s, run.cpu / plan.sessions, d)
    chain = critical_path(run.counted, fitted)
    fitted_ends = estimates({
        "wall times": sum(row.core_s for row in rows.values()) * plan.project_sessions,
        "CPU time": plan.project_sessions * (cpu_fit[0] + cpu_fit[1] * big_d),
    }, chain, plan)
    return Summary(rows, chain, fitted_ends, linear_chain, linear_ends, True, sorted(fallback), sorted(slower_short),
                   cpu_fit)


def print_summary(run: Run, short: Run | None, summary: Summary, plan: Plan) -> None:
    """The runs' times, per-rule table and projection."""
    cores = plan.project_cores
    for measured in (run, short) if short is not None else (run,):
        print(f"  preprocessing, {measured.label}: {len(measured.counted)} jobs, {measured.wall:.0f} s wall, "
              f"{measured.cpu:.0f} s CPU; load average at the end (1, 5, 15 min): {measured.load[0]:.1f} "
              f"{measured.load[1]:.1f} {measured.load[2]:.1f} on {os.cpu_count()} cores")
    lengths = f"{plan.duration_s:g} s" + (f" and {plan.short_duration_s:g} s" if short is not None else "")
    model = "f + v * D, fitted from both lengths" if summary.fitted else f"linear, x{plan.scale:g}"
    print(f"\nper session: {lengths} measured (mean of {plan.sessions} sessions), core-seconds "
          f"projected to {plan.project_duration_s:g} s ({model}):")
    wall, wall_short = f"s @{plan.duration_s:g}s", f"s @{plan.short_duration_s:g}s"
    header = (f"{'rule':<18}{'jobs':>5}{'threads':>8}{wall:>10}{wall_short if short else '':>10}{'peak MB':>9}"
              f"{'fixed s':>9}{'per-min s':>10}{'projected core-s':>18}")
    print(header)
    print("-" * len(header))
    fallback_rules = {rule for rule, _ in summary.fallback}
    for rule, row in sorted(summary.rows.items(), key=lambda item: -item[1].s):
        short_s = "" if short is None else "-" if row.s_short is None else f"{row.s_short:.1f}"
        if rule in NOT_PROJECTED:
            fixed, per_minute, projected = "-", "-", "(demo data)"
        else:
            mark = "*" if rule in fallback_rules else ""
            fixed, per_minute = f"{row.fixed:.1f}{mark}", f"{row.per_second * 60:.1f}{mark}"
            projected = f"{row.core_s:.0f}"
        print(f"{rule:<18}{row.jobs:>5.0f}{row.threads:>8}{row.s:>10.1f}{short_s:>10}{row.rss:>9.0f}"
              f"{fixed:>9}{per_minute:>10}{projected:>18}")
    rows = [row for rule, row in summary.rows.items() if rule not in NOT_PROJECTED]
    short_total = f"{sum(r.s_short or 0.0 for r in rows):.1f}" if short is not None else ""
    print(f"{'total projected':<18}{sum(r.jobs for r in rows):>5.0f}{'':>8}{sum(r.s for r in rows):>10.1f}"
          f"{short_total:>10}{'':>9}{sum(r.fixed for r in rows):>9.1f}{sum(r.per_second for r in rows) * 60:>10.1f}"
          f"{sum(r.core_s for r in rows):>18.0f}")
    def named(keys: list[tuple[str, str]]) -> str:
        return ", ".join(rule + (f" ({device})" if device else "") for rule, device in keys)

    if summary.fallback:
        print(f"  note: not in the short run, scaled linearly (*): {named(summary.fallback)}")
    if summary.slower_short:
        print(f"  note: slower at {plan.short_duration_s:g} s than at {plan.duration_s:g} s, so no per-second "
              f"cost (noise or contention; longer or more sessions measure it better): {named(summary.slower_short)}")
    if summary.cpu_fit is not None:
        fixed, per_second = summary.cpu_fit
        print(f"  CPU time per session: {fixed:.1f} s fixed + {per_second * 60:.1f} s per minute of recording "
              f"(measured {short.cpu / plan.sessions:.1f} s at {plan.short_duration_s:g} s, "
              f"{run.cpu / plan.sessions:.1f} s at {plan.duration_s:g} s"
              f"{'; slower at the short length: noise or contention' if short.cpu > run.cpu else ''})")

    chains = f"{summary.chain:.0f} s" + (f" (linear scaling: {summary.linear_chain:.0f} s)" if summary.fitted else "")
    print(f"\nprojection: {plan.project_sessions} sessions x {plan.project_duration_s / 60:g} min "
          f"({plan.recordings_s / 3600:.1f} h of recordings) on {cores} cores, preprocessing only; "
          f"longest chain within a session {chains}")
    for name, est in summary.estimates.items():
        linear = f" (linear scaling as before: {summary.linear[name].times_duration:.2f} x)" if summary.fitted else ""
        print(f"  from {name + ':':<11} {est.work:>7.0f} core-s / {cores} = {est.work / cores:>5.0f} s -> about "
              f"{clock(est.seconds)} (pessimistic {clock(est.pessimistic)}), "
              f"{est.times_duration:.2f} x the recordings' duration{linear}")


def core_s(summary: Summary, rules: Iterable[str]) -> float | None:
    """Projected core-seconds per session of those of ``rules`` that ran (None: none did)."""
    rows = [summary.rows[rule] for rule in rules if rule in summary.rows and rule not in NOT_PROJECTED]
    return sum(row.core_s for row in rows) if rows else None


def print_comparison(new: Summary, reference: Summary) -> None:
    """Both ends' projections and the decoding-bound rules' core-seconds, reference against new."""

    def line(name: str, ref: float | None, est: float | None, fmt: str) -> None:
        cells = ["-" if value is None else format(value, fmt) for value in (ref, est)]
        ratio = f"{est / ref:.2f}" if ref and est is not None else "-"
        print(f"  {name:<46}{cells[0]:>10}{cells[1]:>10}{ratio:>10}")

    model = " (fitted)" if new.fitted else ""
    print("\ncomparison, reference (analysis.enabled: false, the code before the change) against new:")
    print(f"  {'projected, x the recordings duration' + model:<46}{'reference':>10}{'new':>10}{'new/ref':>10}")
    for name, est in new.estimates.items():
        line(f"from {name}", reference.estimates[name].times_duration, est.times_duration, ".2f")
    if new.fitted:
        ends = list(new.linear)
        cells = {label: " / ".join(f"{s.linear[name].times_duration:.2f}" for name in ends)
                 for label, s in (("reference", reference), ("new", new))}
        ratios = " / ".join(f"{new.linear[name].times_duration / reference.linear[name].times_duration:.2f}"
                            for name in ends)
        print(f"  linear scaling as before ({' / '.join(ends)}): reference {cells['reference']}, "
              f"new {cells['new']}, new/ref {ratios}")
    print(f"  {'projected core-s per session':<46}{'reference':>10}{'new':>10}{'new/ref':>10}")
    for rule in DECODE_RULES:  # "-": the rule did not run (analysis_video in the reference)
        line(rule, core_s(reference, [rule]), core_s(new, [rule]), ".0f")
    line("decoding-bound rules", core_s(reference, DECODE_RULES), core_s(new, DECODE_RULES), ".0f")
    line("all rules", core_s(reference, reference.rows), core_s(new, new.rows), ".0f")


def measure(label: str, workdir: Path, jobs: list[Job], targets: list[str], cores: int) -> Run:
    wall, cpu = timed_run(workdir, "--cores", str(cores), *targets)
    load = os.getloadavg()
    bench = {job.jobid: read_benchmark(workdir / job.benchmark) for job in jobs if job.benchmark}
    missing = sorted({job.rule for job in jobs if job.jobid not in bench})
    if missing:
        sys.exit(f"{label}: no benchmark file for rule(s) {', '.join(missing)}")
    return Run(label, jobs, bench, wall, cpu, load)


def planned(workdir: Path) -> tuple[list[str], list[Job]]:
    """The per-session targets of a working directory and the jobs that make them."""
    targets = per_session_targets(workdir)
    return targets, parse_dry_run(snakemake(workdir, "-n", *targets).stdout)


@dataclass
class Prepared:
    """The working directories of one length, demo files generated: what to measure, in order."""

    measured: list[tuple[str, Path, list[Job], list[str]]]  # label, workdir, jobs, targets
    settings: dict  # the demo config
    demo_jobs: int
    demo_wall: float
    demo_cpu: float


def prepare(root: Path, suffix: str, sessions: list[str], demo: dict, cores: int, reference: bool) -> Prepared:
    """Working directories root/new<suffix> (and root/reference<suffix>) and the demo files,
    generated once in the first (unmeasured by the projection)."""
    new_dir = make_workdir(root / f"new{suffix}", sessions, **demo)
    settings = yaml.safe_load((new_dir / "config" / "config.yaml").read_text())["demo"]
    targets, jobs = planned(new_dir)
    demo_files = [path for job in jobs if job.rule in NOT_PROJECTED for path in job.outputs]
    demo_wall, demo_cpu = timed_run(new_dir, "--cores", str(cores), *demo_files) if demo_files else (0.0, 0.0)
    label = suffix.strip("_")
    measured = [(f"new {label}".strip(), new_dir, jobs, targets)]
    if reference:
        # The same files: the reference's sample sheets point at the new run's demo root
        # (a relative root is the working directory's), where they exist now.
        shared = (new_dir / settings["root"]).resolve()
        ref_dir = make_workdir(root / f"reference{suffix}", sessions, **demo, root=str(shared))
        disable_analysis(ref_dir)
        ref_targets, ref_jobs = planned(ref_dir)
        ref_label = f"reference {label}".strip()
        if regenerated := [job for job in ref_jobs if job.rule in NOT_PROJECTED]:
            sys.exit(f"{ref_label}: would regenerate the demo files ({regenerated[0].rule}); not the same input")
        measured.append((ref_label, ref_dir, ref_jobs, ref_targets))
    demo_jobs = sum(job.rule in NOT_PROJECTED for job in jobs)
    return Prepared(measured, settings, demo_jobs, demo_wall, demo_cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=2)
    parser.add_argument("--duration-s", type=float, default=120)
    parser.add_argument("--short-duration-s", type=float, default=15,
                        help="also measure the sessions at this length, to separate each job's fixed cost "
                             "from its cost per second (0: no short run, linear scaling only)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--project-sessions", type=int, default=38)
    parser.add_argument("--project-duration-s", type=float, default=720)
    parser.add_argument("--project-cores", type=int, default=8)
    parser.add_argument("--preset", choices=list(PRESETS), default="demo",
                        help="demo video size and frame rate of a real camera (demo: the config's own)")
    parser.add_argument("--width", type=int, default=None, help="overrides the preset's")
    parser.add_argument("--height", type=int, default=None, help="overrides the preset's")
    parser.add_argument("--fps", type=int, default=None, help="overrides the preset's")
    parser.add_argument("--reference", action=argparse.BooleanOptionalAction, default=True,
                        help="also measure the code before the change (analysis.enabled: false)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="run in DIR/new, DIR/reference, DIR/new_short, DIR/reference_short and keep them")
    parser.add_argument("--skip-dag", action="store_true")
    args = parser.parse_args()
    if args.short_duration_s < 0 or (args.short_duration_s and args.short_duration_s >= args.duration_s):
        parser.error("--short-duration-s must be 0 (no short run) or between 0 and --duration-s")
    plan = Plan(args.sessions, args.duration_s, args.short_duration_s, args.project_sessions,
                args.project_duration_s, args.project_cores)

    if not args.skip_dag:
        dag_s, dag_jobs = dry_run_seconds(args.project_sessions)
        print(f"dry run, {args.project_sessions} sessions x {args.project_duration_s / 60:g} min "
              f"({dag_jobs} jobs, whole workflow): {dag_s:.1f} s")

    video = demo_video(args.preset, args.width, args.height, args.fps)
    lengths = {"": args.duration_s} | ({"_short": args.short_duration_s} if args.short_duration_s else {})
    sessions = [f"s{i:02d}" for i in range(1, args.sessions + 1)]
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_scale_"))
    try:
        prepared = {suffix: prepare(root, suffix, sessions, {"duration_s": length, **video}, args.cores,
                                    args.reference)
                    for suffix, length in lengths.items()}
        # The long runs first (new, reference), then the short ones: sequential, never competing.
        runs = {suffix: [measure(*run, args.cores) for run in prep.measured] for suffix, prep in prepared.items()}
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)

    settings = prepared[""].settings
    measured_lengths = " and ".join(f"{length:g} s" for length in lengths.values())
    print(f"measured: {args.sessions} sessions x {measured_lengths} "
          f"({args.sessions * args.duration_s / 60:.3g} min of recordings at the long length), video "
          f"{settings['width']}x{settings['height']} at {settings['fps']} fps (preset {args.preset}), "
          f"snakemake --cores {args.cores}")
    for suffix, prep in prepared.items():
        print(f"  demo generation, {lengths[suffix]:g} s: {prep.demo_jobs} jobs, {prep.demo_wall:.0f} s wall, "
              f"{prep.demo_cpu:.0f} s CPU")
    summaries = []
    for i, run in enumerate(runs[""]):
        short = runs["_short"][i] if "_short" in runs else None
        summary = summarize(run, short, plan)
        summaries.append(summary)
        what = "the code before the change (analysis.enabled: false)" if run.label == "reference" else "the config as it is"
        print(f"\n== {run.label}: {what} ==")
        print_summary(run, short, summary, plan)
    if len(summaries) == 2:
        print_comparison(*summaries)


if __name__ == "__main__":
    main()

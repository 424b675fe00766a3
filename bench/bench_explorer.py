"""Session explorer: what building the pages adds to the report stage, and how fast a long
session's page opens from disk in headless Chromium.

Runs the workflow on generated demo sessions (by default two 12-minute sessions, so the baselines
can be cross-validated; the MLLM is switched off, since Gemma 270M on CPU would take hours on 12
minutes of windows), then:

1. build cost: the seconds the report job spent building the explorer pages (its log) against the
   whole report job (its benchmark file), per session — target <= 10 %;
2. page open: each session page opened N times in a fresh headless Chromium tab, from navigation
   until its data are loaded and drawn (``body[data-ready]``) and until its videos show a frame,
   against a reference measured in the same browser: an empty page from the same folder.
   Target: < 2 s for a 12-minute session.

    python bench/bench_explorer.py                       # 2 x 720 s demo sessions (~30 min on 2 cores)
    python bench/bench_explorer.py --workdir results-dir-parent --no-run   # an existing run
    python bench/bench_explorer.py --duration-s 60        # quicker

Figures are on synthetic demo sessions (generated video, speech and gaze).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml
from bench_dag import dry_run_seconds  # noqa: F401 - first: it puts tests/ on sys.path

from egoinstruct.report.browser import (
    chromium_executable,
    headless_chromium,
    open_page,
    wait_for_videos,
)

from workflow_utils import make_workdir, snakemake

TARGET_SHARE = 0.10
TARGET_OPEN_S = 2.0


def prepare(root: Path, sessions: int, duration_s: float) -> Path:
    workdir = make_workdir(root, [f"s{i:02d}" for i in range(1, sessions + 1)], duration_s=duration_s)
    path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    for model in (config.get("mllm") or {}).get("models") or {}:
        config["mllm"]["models"][model]["enabled"] = False
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return workdir


def build_cost(workdir: Path) -> tuple[float, float, int]:
    """(explorer seconds, report job seconds, pages) of the last report job."""
    log = (workdir / "logs" / "report.log").read_text()
    match = re.findall(r"explorer: (\d+) session pages built in ([0-9.]+) s", log)
    if not match:
        sys.exit(f"{workdir}/logs/report.log: no explorer line; was the report built with report.explorer true?")
    pages, seconds = int(match[-1][0]), float(match[-1][1])
    rows = (workdir / "benchmarks" / "report.tsv").read_text().splitlines()
    report_s = float(rows[-1].split("\t")[0])
    return seconds, report_s, pages


def page_open(pages: list[Path], repeats: int) -> None:
    with headless_chromium() as browser:
        empty = pages[0].parent / "bench-empty.html"
        empty.write_text('<!DOCTYPE html><html><body data-ready="1"></body></html>\n')
        try:
            reference = []
            for _ in range(repeats):
                opened = open_page(browser, empty)
                reference.append(opened.seconds_to_ready)
                opened.page.close()
        finally:
            empty.unlink()
        ref = statistics.median(reference)
        print(f"reference: an empty page from the same folder opens in {ref * 1000:.0f} ms (median of {repeats})")
        print(f"{'page':<12}{'data MB':>9}{'ready s':>9}{'videos s':>10}{'vs empty':>10}{'vs 2 s':>8}  errors")
        for html in pages:
            data_mb = sum(p.stat().st_size for p in html.with_suffix("").glob("*.js")) / 1e6
            ready, videos, errors = [], [], 0
            for _ in range(repeats):
                opened = open_page(browser, html)
                ready.append(opened.seconds_to_ready)
                start = time.perf_counter()
                wait_for_videos(opened.page)
                videos.append(opened.seconds_to_ready + time.perf_counter() - start)
                errors += len(opened.errors) + len(opened.remote_requests)
                opened.page.close()
            r, v = statistics.median(ready), statistics.median(videos)
            print(f"{html.name:<12}{data_mb:>9.2f}{r:>9.2f}{v:>10.2f}{r / ref:>9.1f}x{r / TARGET_OPEN_S:>8.2f}  {errors}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=2)
    parser.add_argument("--duration-s", type=float, default=720)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None, help="run here (kept) instead of a temporary folder")
    parser.add_argument("--no-run", action="store_true", help="measure an existing run in --workdir")
    args = parser.parse_args()
    if chromium_executable() is None:
        sys.exit("no Chromium: run tests/browser/install-chromium.sh as root, or set EGOINSTRUCT_CHROMIUM")

    with tempfile.TemporaryDirectory(prefix="bench-explorer-") as tmp:
        workdir = args.workdir or Path(tmp) / "run"
        if not args.no_run:
            prepare(workdir, args.sessions, args.duration_s)
            start = time.perf_counter()
            snakemake(workdir, "--cores", str(args.cores), timeout=6 * 3600)
            print(f"workflow: {args.sessions} demo session(s) x {args.duration_s:.0f} s (synthetic), "
                  f"{(time.perf_counter() - start) / 60:.1f} min on {args.cores} cores")
        explorer_s, report_s, pages = build_cost(workdir)
        share = explorer_s / report_s
        print(f"build cost: {pages} pages in {explorer_s:.3f} s of a {report_s:.2f} s report job: "
              f"{explorer_s / pages * 1000:.0f} ms vs {report_s / pages * 1000:.0f} ms per session, "
              f"share {share:.3f} (target <= {TARGET_SHARE:.2f}: {'met' if share <= TARGET_SHARE else 'NOT met'})")
        page_open(sorted((workdir / "results" / "report" / "sessions").glob("s*.html")), args.repeats)


if __name__ == "__main__":
    main()

"""DAG construction time: `snakemake -n` on the paper-sized sample sheet (38 sessions).

Prints the dry-run wall time for the 6 demo sessions (reference) and for 38 sessions, and their
ratio: building the DAG should grow roughly linearly with the number of jobs, and stay within a
few seconds at the paper's scale. The demo files are rule outputs, so no input needs to exist.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from workflow_utils import make_workdir, snakemake  # noqa: E402


def dry_run_seconds(n_sessions: int) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = make_workdir(Path(tmp), [f"s{i:02d}" for i in range(1, n_sessions + 1)], duration_s=720)
        start = time.perf_counter()
        result = snakemake(workdir, "-n", "--quiet", "rules")
        elapsed = time.perf_counter() - start
    total = next(line.split()[-1] for line in result.stdout.splitlines() if line.startswith("total"))
    return elapsed, total


def main() -> None:
    reference, jobs_6 = dry_run_seconds(6)
    paper, jobs_38 = dry_run_seconds(38)
    print(f"reference: dry run, 6 sessions ({jobs_6} jobs): {reference:.1f} s")
    print(f"dry run, 38 sessions x 12 min ({jobs_38} jobs): {paper:.1f} s  ratio {paper / reference:.2f}")


if __name__ == "__main__":
    main()

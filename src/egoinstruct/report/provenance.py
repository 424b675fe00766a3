"""Where a report comes from: package versions, the configuration's hash, the git commit, the date."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from egoinstruct.paths import REPO_ROOT

# Distributions whose versions decide the numbers in the report (missing ones are reported as such).
PACKAGES = (
    "egoinstruct", "snakemake", "numpy", "pandas", "pyarrow", "scipy", "scikit-learn", "torch",
    "whisperx", "faster-whisper", "ctranslate2", "pyannote.audio", "pyannote.metrics", "silero-vad",
    "resemblyzer", "praat-parselmouth", "jiwer", "timm", "opencv-python-headless", "av",
    "sentence-transformers", "llama_cpp_python", "openai", "transformers",
)


def package_versions(packages: Sequence[str] = PACKAGES) -> dict[str, str]:
    """Installed version of each distribution (``not installed`` when absent)."""
    out = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 of the configuration as canonical JSON (sorted keys)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def git_commit(repo: str | Path) -> str:
    """``<commit>`` of the checkout at ``repo`` (else of the checkout this package runs from),
    with ``+ uncommitted changes`` when tracked files differ from it; ``unknown`` without git or
    a repository."""
    def git(folder: Path, *args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    for folder in dict.fromkeys([Path(repo), REPO_ROOT]):
        try:
            commit = git(folder, "rev-parse", "HEAD")
            dirty = bool(git(folder, "status", "--porcelain", "--untracked-files=no"))
        except (OSError, subprocess.SubprocessError):
            continue
        return commit + (" + uncommitted changes" if dirty else "")
    return "unknown"


def short_commit(commit: str) -> str:
    """The first 12 characters of a commit hash, keeping the uncommitted-changes mark."""
    head, _, rest = commit.partition(" ")
    return head[:12] + (f" {rest}" if rest else "") if len(head) == 40 else commit


def provenance(repo: str | Path, config_digest: str, now: datetime | None = None) -> dict[str, Any]:
    """Everything the report's provenance section shows."""
    return {
        "run_date_utc": (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "git_commit": git_commit(repo),
        "config_sha256": config_digest,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
    }

"""Shared test helpers: small media files made with the project's ffmpeg, sheet writers."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from egoinstruct.media.ffmpeg import ffmpeg_executable
from egoinstruct.paths import REPO_ROOT

SHARED_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"


def shared_fixture(*parts: str) -> Path:
    """A file or folder of the shared real-data fixtures (``../shared/fixtures`` beside the
    checkout), read as it is. Missing: the test is skipped on a developer's machine, but fails
    under CI (``CI`` set), where the real files must be tested."""
    path = SHARED_FIXTURES.joinpath(*parts)
    if not path.exists():
        message = (f"{path} not found: the shared real-data fixtures must lie beside the checkout "
                   "(../shared/fixtures, see its SOURCES.md)")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def make_video(path: Path, duration_s: float = 2.0, audio: bool = True, size: str = "64x48") -> Path:
    """A tiny H.264 MP4 (test pattern, optional 440 Hz stereo AAC track)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [ffmpeg_executable(), "-v", "error", "-y", "-f", "lavfi", "-i",
           f"testsrc=size={size}:rate=15:duration={duration_s}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={duration_s}",
                "-ac", "2", "-c:a", "aac"]
    cmd += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-shortest", str(path)]
    subprocess.run(cmd, check=True)
    return path


def write_tsv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(header)] + ["\t".join("" if v is None else str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT

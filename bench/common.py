"""Helpers shared by the benchmark scripts: synthetic inputs, timing, child-process peak memory."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from egoinstruct.media.ffmpeg import ffmpeg_executable

CACHE = Path(__file__).resolve().parent / ".cache"


def synthetic_video(seconds: int, size: str = "640x480", fps: int = 30) -> Path:
    """A moving test pattern with a tone (H.264 + AAC), cached between runs."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"testsrc_{seconds}s_{size}_{fps}fps.mp4"
    if not path.exists():
        tmp = path.with_suffix(".tmp.mp4")
        subprocess.run(
            [ffmpeg_executable(), "-v", "error", "-y",
             "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}",
             "-f", "lavfi", "-i", f"sine=frequency=300:sample_rate=48000:duration={seconds}",
             "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", str(2 * fps),
             "-c:a", "aac", "-shortest", str(tmp)],
            check=True,
        )
        tmp.rename(path)
    return path


def timed(fn, repeats: int = 3) -> float:
    """Best wall time of ``repeats`` runs (s)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def run_child(code: str) -> dict:
    """Run Python ``code`` in a fresh interpreter; it must print one JSON object last.

    The child's own peak RSS (MiB) is added as ``peak_rss_mib``.
    """
    wrapper = (
        "import json, resource\n" + code +
        "\nprint(json.dumps({**RESULT, 'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))"
    )
    out = subprocess.run([sys.executable, "-c", wrapper], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


_ = resource  # imported for documentation of what run_child measures

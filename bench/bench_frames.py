"""Frame extraction: speed against a bare ffmpeg decode, and flat memory for long videos.

Prints, for one synthetic 640x480 30 fps H.264 video:
  * extraction wall time (the `frames` stage at frames.fps = 2 and at the video's own rate)
    divided by `ffmpeg -i VIDEO -f null -` on the same file (target ratio <= 1.5);
  * peak memory of extraction for a 1-minute and a 10-minute video (target: the longer within
    1.2x of the shorter).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from egoinstruct.frames import FrameSettings, extract_frames
from egoinstruct.media.ffmpeg import ffmpeg_executable

from common import run_child, synthetic_video, timed


def main() -> None:
    one_minute = synthetic_video(60)
    ten_minutes = synthetic_video(600)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "frames.parquet"

        def bare() -> None:
            subprocess.run([ffmpeg_executable(), "-v", "error", "-i", str(one_minute), "-f", "null", "-"], check=True)

        reference = timed(bare)
        print(f"reference: ffmpeg -f null decode of 60 s 640x480@30: {reference:.2f} s")
        for fps in (2.0, 30.0):
            stage = timed(lambda fps=fps: extract_frames(one_minute, out, 0.0, 60.0, FrameSettings(fps=fps), threads=2))
            print(f"frames stage at {fps:g} fps: {stage:.2f} s  ratio {stage / reference:.2f}  "
                  f"({'target <= 1.5' if fps == 2 else 'every frame JPEG-encoded; for reference, no target'})")

        code = (
            "from egoinstruct.frames import FrameSettings, extract_frames\n"
            "n = extract_frames({video!r}, {out!r}, 0.0, {seconds}, FrameSettings(fps=2), threads=2)\n"
            "RESULT = {{'frames': n}}"
        )
        short = run_child(code.format(video=str(one_minute), out=str(out), seconds=60.0))
        long = run_child(code.format(video=str(ten_minutes), out=str(out), seconds=600.0))
        print(f"peak memory: 1 min {short['peak_rss_mib']:.0f} MiB ({short['frames']} frames), "
              f"10 min {long['peak_rss_mib']:.0f} MiB ({long['frames']} frames), "
              f"ratio {long['peak_rss_mib'] / short['peak_rss_mib']:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()

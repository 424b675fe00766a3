"""Frame extraction and the analysis stream: speed against a bare ffmpeg decode, and flat memory
for long videos.

Prints, for one synthetic 640x480 30 fps H.264 video:
  * extraction wall time (the `frames` stage at frames.fps = 2 and at the video's own rate)
    divided by `ffmpeg -i VIDEO -f null -` on the same file (target ratio <= 1.5);
  * the analysis stream's wall time (`analysis_video`: decode every frame, scale, H.264-encode
    at the configured rate and width) divided by the same bare decode, for information;
  * peak memory of extraction and of the analysis stream for a 1-minute and a 10-minute video
    (target: the longer within 1.2x of the shorter).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from egoinstruct.analysis import write_analysis_stream
from egoinstruct.clock import DeviceClock
from egoinstruct.frames import extract_frames
from egoinstruct.media.ffmpeg import ffmpeg_executable
from egoinstruct.settings.ingest import FrameSettings
from egoinstruct.settings.workflow import analysis_stream, default_settings, defaults_for

from common import run_child, synthetic_video, timed


def session_clock(seconds: float) -> DeviceClock:
    """The reference device of a session as long as the video (offset 0, no drift)."""
    return DeviceClock(device="bench", offset_s=0.0, drift_ppm=0.0, session_duration_s=seconds)


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
            settings = defaults_for(FrameSettings, fps=fps)
            stage = timed(lambda settings=settings: extract_frames(one_minute, out, session_clock(60.0), settings,
                                                                   threads=2))
            print(f"frames stage at {fps:g} fps: {stage:.2f} s  ratio {stage / reference:.2f}  "
                  f"({'target <= 1.5' if fps == 2 else 'every frame JPEG-encoded; for reference, no target'})")

        # The child rebuilds the settings from plain data, as a rule's script does (no config loading).
        code = (
            "from egoinstruct.clock import DeviceClock\n"
            "from egoinstruct.frames import extract_frames\n"
            "from egoinstruct.settings.ingest import FrameSettings\n"
            "clock = DeviceClock(device='bench', offset_s=0.0, drift_ppm=0.0, session_duration_s={seconds})\n"
            "n = extract_frames({video!r}, {out!r}, clock, FrameSettings.from_mapping({settings!r}), threads=2)\n"
            "RESULT = {{'frames': n}}"
        )
        settings = defaults_for(FrameSettings, fps=2.0).to_mapping()
        short = run_child(code.format(video=str(one_minute), out=str(out), seconds=60.0, settings=settings))
        long = run_child(code.format(video=str(ten_minutes), out=str(out), seconds=600.0, settings=settings))
        print(f"peak memory: 1 min {short['peak_rss_mib']:.0f} MiB ({short['frames']} frames), "
              f"10 min {long['peak_rss_mib']:.0f} MiB ({long['frames']} frames), "
              f"ratio {long['peak_rss_mib'] / short['peak_rss_mib']:.2f} (target <= 1.2)")

        stream = analysis_stream(default_settings())
        mp4, index = Path(tmp) / "a.mp4", Path(tmp) / "a.parquet"
        args = (stream["fps"], stream["width"], stream["crf"], stream["preset"])
        seconds = timed(lambda: write_analysis_stream(one_minute, mp4, index, session_clock(60.0), *args, threads=2))
        print(f"analysis stream ({stream['fps']:g} fps, width {stream['width']}, CRF {stream['crf']}, "
              f"{stream['preset']}): {seconds:.2f} s  ratio {seconds / reference:.2f} (for information)")
        code = (
            "from egoinstruct.analysis import write_analysis_stream\n"
            "from egoinstruct.clock import DeviceClock\n"
            "clock = DeviceClock(device='bench', offset_s=0.0, drift_ppm=0.0, session_duration_s={seconds})\n"
            "n = write_analysis_stream({video!r}, {mp4!r}, {index!r}, clock, *{args!r}, threads=2)\n"
            "RESULT = {{'frames': n}}"
        )
        short = run_child(code.format(video=str(one_minute), mp4=str(mp4), index=str(index), seconds=60.0, args=args))
        long = run_child(code.format(video=str(ten_minutes), mp4=str(mp4), index=str(index), seconds=600.0, args=args))
        print(f"analysis stream peak memory: 1 min {short['peak_rss_mib']:.0f} MiB ({short['frames']} frames), "
              f"10 min {long['peak_rss_mib']:.0f} MiB ({long['frames']} frames), "
              f"ratio {long['peak_rss_mib'] / short['peak_rss_mib']:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()

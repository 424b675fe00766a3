"""Visual features: stage throughput (decode included) against the model's forward pass alone.

Prints, in one run, for the default backbone (EfficientNet-Lite0, 224x224, batch 32, 2 threads):
  * reference: frames/s of the forward pass alone on tensors already in memory;
  * the `visual_features` stage (extract_features: streaming decode, preprocessing, forward,
    Parquet) at features.fps = 5 on two synthetic 60 s videos — the demo's size (320x240 @ 15 fps)
    and a larger one (640x480 @ 30 fps, six decoded frames per output frame) — in frames/s and as a
    ratio to the reference (target >= 0.8: decode and I/O must not dominate);
  * peak memory (RSS) of the stage in a fresh process, for a 1-minute and a 10-minute video.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from common import run_child, synthetic_video

THREADS = 2
FPS = 5.0


def forward_only(backbone, batch_size: int, n_batches: int) -> float:
    """Frames/s of ``backbone.embed`` on preloaded, preprocessed batches."""
    rng = np.random.default_rng(0)
    size = backbone.preprocessing.input_size
    batch = rng.standard_normal((batch_size, 3, size, size)).astype(np.float32)
    backbone.embed(batch)  # warm-up (allocations, oneDNN kernels)
    start = time.perf_counter()
    for _ in range(n_batches):
        backbone.embed(batch)
    return batch_size * n_batches / (time.perf_counter() - start)


def main() -> None:
    import torch

    from egoinstruct.clock import DeviceClock
    from egoinstruct.settings.visual import FeatureSettings
    from egoinstruct.settings.workflow import defaults_for
    from egoinstruct.visual.features import extract_features, load_backbone

    torch.set_num_threads(THREADS)
    settings = defaults_for(FeatureSettings, fps=FPS)
    clock = DeviceClock(device="bench", offset_s=0.0, drift_ppm=0.0, session_duration_s=60.0)
    start = time.perf_counter()
    backbone = load_backbone(settings)
    print(f"model: {backbone.name} ({backbone.dim}-d), loaded in {time.perf_counter() - start:.2f} s; "
          f"batch {settings.batch_size}, {THREADS} threads")
    videos = {"320x240@15 (demo size)": synthetic_video(60, "320x240", 15),
              "640x480@30": synthetic_video(60, "640x480", 30)}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "visual.parquet"
        for label, video in videos.items():
            # reference measured right before and after each stage run (mean), so both see the
            # same machine load
            before = forward_only(backbone, settings.batch_size, n_batches=5)
            start = time.perf_counter()
            n = extract_features(video, out, clock, settings, threads=THREADS, backbone=backbone)
            stage = n / (time.perf_counter() - start)
            reference = 0.5 * (before + forward_only(backbone, settings.batch_size, n_batches=5))
            print(f"{label}: forward alone {reference:.1f} frames/s; stage {stage:.1f} frames/s "
                  f"({n} frames at {FPS:g} fps, decode included); ratio {stage / reference:.2f} (target >= 0.8)")

        # The child rebuilds the settings from plain data, as a rule's script does (no config loading).
        code = (
            "import torch\n"
            "from egoinstruct.clock import DeviceClock\n"
            "from egoinstruct.settings.visual import FeatureSettings\n"
            "from egoinstruct.visual.features import extract_features\n"
            "torch.set_num_threads({threads})\n"
            "clock = DeviceClock(device='bench', offset_s=0.0, drift_ppm=0.0, session_duration_s={seconds})\n"
            "n = extract_features({video!r}, {out!r}, clock, FeatureSettings.from_mapping({settings!r}), "
            "threads={threads})\n"
            "RESULT = {{'frames': n}}"
        )
        mapping = settings.to_mapping()
        ten_minutes = synthetic_video(600, "320x240", 15)
        short = run_child(code.format(video=str(videos["320x240@15 (demo size)"]), out=str(out),
                                      seconds=60.0, settings=mapping, threads=THREADS))
        long = run_child(code.format(video=str(ten_minutes), out=str(out), seconds=600.0, settings=mapping,
                                     threads=THREADS))
        print(f"peak memory of the stage: 1 min {short['peak_rss_mib']:.0f} MiB ({short['frames']} frames), "
              f"10 min {long['peak_rss_mib']:.0f} MiB ({long['frames']} frames), "
              f"ratio {long['peak_rss_mib'] / short['peak_rss_mib']:.2f} (flat memory: target <= 1.2)")


if __name__ == "__main__":
    main()

"""Step-segmentation models: ASFormer's training and inference speed beside MS-TCN++'s.

Prints, in one run, for the paper-sized setting (38 sessions x 12 min at 15 fps = 10 800 frames
each, 2048-d features; synthetic tensors, 10 classes, paper presets, batch size 1):
  * training: ms per iteration (forward + loss over all stages + backward + Adam step) and the
    resulting ms per epoch (38 iterations) and per 120-epoch run;
  * inference: ms per 10 800-frame session (eval mode, no gradients);
  * the ratio ASFormer / MS-TCN++ (MS-TCN++ is the reference);
  * peak memory: process RSS, and torch.cuda.max_memory_allocated on a GPU.

Each measurement runs in a fresh interpreter (bench/common.py: run_child), so peak RSS is the
phase's own. Training is timed at a fifth of the length (2048 frames) and at the full length;
inference at the full length. On a machine too slow for a full-length step, ``--max-train-frames
N`` times training at N/2 and N frames instead and extrapolates linearly to 10 800 (both models'
cost is linear in length: convolutions and windowed attention); the output then says so.

Usage: python bench/bench_segmentation_models.py [--threads N] [--device auto|cpu|cuda]
       [--max-train-frames N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

from common import run_child

HERE = Path(__file__).resolve().parent
SESSIONS = 38
SESSION_FRAMES = 10_800  # 12 min at 15 fps
FEATURE_DIM = 2048
NUM_CLASSES = 10
MODELS = (("asformer", "ASFormer"), ("mstcn++", "MS-TCN++"))


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(model_name: str, phase: str, lengths: list[int], threads: int, device: str,
            iterations: int) -> dict[str, Any]:
    """Run in a child process: time ``phase`` ("train" or "infer") at each length (ascending)."""
    import torch

    from egoinstruct.models.losses import segmentation_loss
    from egoinstruct.models.segmentation import (
        build_model,
        deterministic_algorithms,
        resolve_device,
        resolve_settings,
    )

    torch.set_num_threads(threads)
    target = resolve_device(device)
    settings = resolve_settings(model_name, {"preset": "paper"})
    torch.manual_seed(0)
    model = build_model(model_name, FEATURE_DIM, NUM_CLASSES, settings).to(target)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["learning_rate"],
                                 weight_decay=settings["weight_decay"])

    def sync() -> None:
        if target.type == "cuda":
            torch.cuda.synchronize(target)

    def step(features: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> None:
        if phase == "train":
            optimizer.zero_grad(set_to_none=True)
            logits = model(features, mask)
            segmentation_loss(logits, labels, mask, settings["smoothing_weight"],
                              settings["smoothing_clamp"]).total.backward()
            optimizer.step()
        else:
            with torch.no_grad():
                model(features, mask)

    model.train(phase == "train")
    results: dict[str, Any] = {"params": sum(p.numel() for p in model.parameters()),
                               "epochs": settings["epochs"], "device": str(target),
                               "per_length": []}
    # Train under the same deterministic settings as segmentation.train does.
    with deterministic_algorithms() if phase == "train" else contextlib.nullcontext():
        for i, length in enumerate(lengths):
            generator = torch.Generator().manual_seed(length)
            features = torch.randn(1, FEATURE_DIM, length, generator=generator).to(target)
            # Piecewise-constant labels: 40 steps of equal length.
            labels = (torch.arange(length) * 40 // length % NUM_CLASSES).unsqueeze(0).to(target)
            mask = torch.ones(1, 1, length, device=target)
            if target.type == "cuda":
                torch.cuda.reset_peak_memory_stats(target)
            if i == 0:  # warm-up: allocator, kernels, Adam state
                step(features, labels, mask)
                sync()
            times = []
            for _ in range(iterations):
                start = time.perf_counter()
                step(features, labels, mask)
                sync()
                times.append(time.perf_counter() - start)
            results["per_length"].append({
                "length": length,
                "ms": 1000 * min(times),
                "rss_mib": _rss_mib(),
                "cuda_mib": (torch.cuda.max_memory_allocated(target) / 2**20
                             if target.type == "cuda" else None),
            })
    return results


def _child(model_name: str, phase: str, lengths: list[int], threads: int, device: str,
           iterations: int) -> dict[str, Any]:
    code = (f"import sys\nsys.path.insert(0, {str(HERE)!r})\n"
            "from bench_segmentation_models import measure\n"
            f"RESULT = measure({model_name!r}, {phase!r}, {lengths!r}, {threads}, {device!r}, "
            f"{iterations})")
    return run_child(code)


def _at_full_length(per_length: list[dict[str, Any]], key: str) -> tuple[float, bool]:
    """The value at SESSION_FRAMES: measured if there, else a line through the measured points."""
    points = [(p["length"], p[key]) for p in per_length if p[key] is not None]
    for length, value in points:
        if length == SESSION_FRAMES:
            return value, False
    (x0, y0), (x1, y1) = points[0], points[-1]
    slope = (y1 - y0) / (x1 - x0)
    return y0 + slope * (SESSION_FRAMES - x0), True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    parser.add_argument("--max-train-frames", type=int, default=SESSION_FRAMES,
                        help="longest training sequence to time; below 10800, extrapolate")
    args = parser.parse_args()
    # Children inherit this. OpenMP's default active spin-wait makes 2 threads 10-100x slower
    # than 1 when another process holds one of the 2 cores (the shared development machine);
    # passive waiting measures the model instead of the contention.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    import torch

    from egoinstruct.models.segmentation import resolve_device

    device = resolve_device(args.device)
    on_gpu = device.type == "cuda"
    longest = min(args.max_train_frames, SESSION_FRAMES)
    train_lengths = [2048, SESSION_FRAMES] if longest == SESSION_FRAMES else [longest // 2, longest]
    iterations = 5 if on_gpu else 2
    where = (torch.cuda.get_device_name(device) if on_gpu
             else f"CPU, {args.threads} torch threads, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}")
    print(f"device: {where}; torch {torch.__version__}")
    print(f"setting: {SESSIONS} sessions x {SESSION_FRAMES} frames (12 min at 15 fps), "
          f"{FEATURE_DIM}-d synthetic features, {NUM_CLASSES} classes, batch size 1, paper presets")
    if longest < SESSION_FRAMES:
        print(f"training measured at {' and '.join(map(str, train_lengths))} frames and "
              f"extrapolated linearly to {SESSION_FRAMES} (--max-train-frames); "
              f"inference measured at {SESSION_FRAMES} frames")
    print(f"times: best of {iterations} after a warm-up iteration\n", flush=True)

    rows: dict[str, dict[str, Any]] = {}
    for name, label in MODELS:
        started = time.perf_counter()
        training = _child(name, "train", train_lengths, args.threads, args.device, iterations)
        inference = _child(name, "infer", [SESSION_FRAMES], args.threads, args.device, iterations)
        train_ms, extrapolated = _at_full_length(training["per_length"], "ms")
        train_rss, _ = _at_full_length(training["per_length"], "rss_mib")
        rows[name] = {
            "label": label, "params": training["params"], "epochs": training["epochs"],
            "training": training,
            "train_ms": train_ms, "extrapolated": extrapolated, "train_rss": train_rss,
            "infer_ms": inference["per_length"][0]["ms"],
            "infer_rss": inference["peak_rss_mib"],
            "train_cuda": training["per_length"][-1]["cuda_mib"],
            "infer_cuda": inference["per_length"][0]["cuda_mib"],
        }
        print(f"  ({label}: {time.perf_counter() - started:.0f} s of measuring)", flush=True)

    print()
    for row in rows.values():
        measured = ", ".join(f"{p['ms']:.0f} ms at {p['length']}"
                             for p in row["training"]["per_length"])
        mark = " (extrapolated)" if row["extrapolated"] else ""
        print(f"{row['label']} ({row['params'] / 1e6:.2f} M parameters)")
        print(f"  training: {measured} frames")
        print(f"    -> {row['train_ms']:.0f} ms per {SESSION_FRAMES}-frame iteration{mark}, "
              f"{row['train_ms'] * SESSIONS / 1000:.1f} s per {SESSIONS}-session epoch, "
              f"{row['train_ms'] * SESSIONS * row['epochs'] / 3.6e6:.2f} h per {row['epochs']}-epoch "
              "run (the preset's epochs)")
        print(f"  inference: {row['infer_ms']:.0f} ms per {SESSION_FRAMES}-frame session")
        peaks = [f"training {row['train_rss']:.0f} MiB{mark} (measured "
                 + ", ".join(f"{p['rss_mib']:.0f} at {p['length']}"
                             for p in row["training"]["per_length"]) + ")",
                 f"inference {row['infer_rss']:.0f} MiB"]
        print(f"  peak RSS: {'; '.join(peaks)}")
        if row["train_cuda"] is not None:
            print(f"  peak CUDA memory allocated: training {row['train_cuda']:.0f} MiB, "
                  f"inference {row['infer_cuda']:.0f} MiB")
    a, m = rows["asformer"], rows["mstcn++"]
    print(f"\nratio ASFormer / MS-TCN++ (reference): training {a['train_ms'] / m['train_ms']:.2f}, "
          f"inference {a['infer_ms'] / m['infer_ms']:.2f}, "
          f"training peak RSS {a['train_rss'] / m['train_rss']:.2f}")


if __name__ == "__main__":
    sys.exit(main())

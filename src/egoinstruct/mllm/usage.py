"""One table of MLLM usage: what each run was shown, what it cost, how its answers parsed, its score.

Built from the ``mllm_summary`` records (``results/mllm/{task}/{model}/summary.json``: the run's
``run.json`` and its score on the evaluation grid) by :func:`usage_table`, the one builder behind
both ``results/mllm/summary.tsv`` (rule ``mllm_overview``) and the report's ``mllm_usage.csv``.

* ``new_calls`` … ``call_latency_s_*``: over the calls the run made (a fully cached rerun makes
  none); ``cache_hits``: answers replayed from the response cache;
* ``answer_*``: over every answer used, as measured when its call was made (cached or not);
* ``accuracy`` / ``macro_f1``: pooled over the scored sessions on the evaluation grid, the same
  numbers as the ``evaluate`` rule's pooled figures of this method.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

COLUMNS = [
    "task", "method", "model", "backend", "served_model", "prompt_version", "decoding", "inputs_shown",
    "inputs_left_out", "transcript_only", "sessions", "windows", "new_calls", "cache_hits", "cache_hit_share",
    "retries", "prompt_tokens", "completion_tokens", "call_latency_s_mean", "call_latency_s_p50",
    "call_latency_s_p95", "answer_prompt_tokens", "answer_completion_tokens", "answer_latency_s_mean",
    "unparseable_window_rate", "unparseable_frame_rate", "outcomes", "windows_per_s", "wall_s", "accuracy",
    "macro_f1", "majority_baseline_accuracy", "frames_scored",
]


def usage_row(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The row of one run from its ``summary.json`` (``{"run": …, "score": …}``)."""
    run, score = summary["run"], summary.get("score") or {}
    calls = run.get("calls") or {}
    answers = run.get("answers") or {}
    windows = run.get("windows") or 0
    return {
        "task": run["task"],
        "method": f"mllm-{run['model']}",
        "model": run["model"],
        "backend": run.get("backend", ""),
        "served_model": (run.get("identity") or {}).get("model", ""),
        "prompt_version": run.get("prompt_version", ""),
        "decoding": run.get("decoding", ""),
        "inputs_shown": ",".join(run.get("inputs_shown") or []),
        "inputs_left_out": ",".join(run.get("inputs_dropped") or []),
        "transcript_only": run.get("transcript_only"),
        "sessions": len(run.get("sessions") or {}),
        "windows": windows,
        "new_calls": calls.get("new_calls"),
        "cache_hits": calls.get("cache_hits"),
        "cache_hit_share": calls.get("cache_hits", 0) / windows if windows else None,
        "retries": calls.get("retries"),
        "prompt_tokens": calls.get("prompt_tokens"),
        "completion_tokens": calls.get("completion_tokens"),
        "call_latency_s_mean": calls.get("latency_s_mean"),
        "call_latency_s_p50": calls.get("latency_s_p50"),
        "call_latency_s_p95": calls.get("latency_s_p95"),
        "answer_prompt_tokens": answers.get("prompt_tokens"),
        "answer_completion_tokens": answers.get("completion_tokens"),
        "answer_latency_s_mean": answers.get("latency_s_mean"),
        "unparseable_window_rate": run.get("unparseable_rate"),
        "unparseable_frame_rate": score.get("unparseable_frame_rate"),
        "outcomes": ", ".join(f"{k} {v}" for k, v in (run.get("outcomes") or {}).items()),
        "windows_per_s": run.get("windows_per_s"),
        "wall_s": run.get("wall_s"),
        "accuracy": score.get("accuracy"),
        "macro_f1": score.get("macro_f1"),
        "majority_baseline_accuracy": score.get("majority_baseline_accuracy"),
        "frames_scored": score.get("frames_scored"),
    }


def usage_table(summaries: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run (see the module docstring for the columns)."""
    return pd.DataFrame([usage_row(s) for s in summaries], columns=COLUMNS)

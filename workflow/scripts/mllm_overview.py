"""Rule mllm_overview: one row per task and model — inputs shown, score, outcomes and calls."""

import json

import pandas as pd

from egoinstruct.io import atomic_path
from egoinstruct.logutil import rule_logging

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]):
    rows = []
    for path in sm.input:
        summary = json.loads(open(path).read())
        run, score = summary["run"], summary["score"]
        calls = run["calls"]
        rows.append({
            "task": run["task"],
            "model": run["model"],
            "backend": run["backend"],
            "prompt_version": run["prompt_version"],
            "decoding": run["decoding"],
            "inputs_shown": ",".join(run["inputs_shown"]),
            "inputs_left_out": ",".join(run["inputs_dropped"]),
            "transcript_only": run["transcript_only"],
            "sessions": len(run["sessions"]),
            "windows": run["windows"],
            "accuracy": score.get("accuracy"),
            "macro_f1": score.get("macro_f1"),
            "majority_baseline_accuracy": score.get("majority_baseline_accuracy"),
            "unparseable_window_rate": run["unparseable_rate"],
            "unparseable_frame_rate": score.get("unparseable_frame_rate"),
            "new_calls": calls["new_calls"],
            "cached_calls": calls["cache_hits"],
            "retries": calls["retries"],
            "prompt_tokens": calls["prompt_tokens"],
            "completion_tokens": calls["completion_tokens"],
            "call_latency_s_mean": calls["latency_s_mean"],
            "call_latency_s_p95": calls["latency_s_p95"],
            "answer_prompt_tokens": run["answers"]["prompt_tokens"],
            "answer_latency_s_mean": run["answers"]["latency_s_mean"],
            "windows_per_s": run["windows_per_s"],
        })
    with atomic_path(sm.output[0]) as tmp:
        pd.DataFrame(rows).to_csv(tmp, sep="\t", index=False, float_format="%.4g")

"""Rule report: the self-contained HTML report, summary.md, CSV tables and SVG timelines."""

from pathlib import Path

from egoinstruct.logutil import rule_logging
from egoinstruct.report import ReportInputs, ReportOutputs, build_report

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    sessions = list(sm.params.sessions)
    metrics_dirs = {task: Path(f"results/metrics/{task}") for task in sm.params.tasks}
    windows = {}
    runs = {}
    for task, mllm in sm.params.mllm.items():
        for method, model in mllm.items():
            runs[(task, method)] = f"results/mllm/{task}/{model}/run.json"
            windows[(task, method)] = [
                f"results/mllm/{task}/{model}/windows/{s}.parquet" for s in sm.params.methods[task][method]["sessions"]
            ]
    settings = dict(sm.params.settings or {})
    inputs = ReportInputs(
        tasks=list(sm.params.tasks),
        metrics_dirs=metrics_dirs,
        sessions=sessions,
        procedures=dict(sm.params.procedures),
        probes=dict(zip(sessions, sm.input.probes, strict=True)),
        syncs=dict(zip(sessions, sm.input.syncs, strict=True)),
        speech=dict(zip(sessions, sm.input.speech, strict=True)),
        overview=sm.input.overview,
        mllm_runs=runs,
        mllm_windows=windows,
        results_dir="results",
        demo_root=sm.params.demo_root if sm.params.demo_sessions else None,
        demo_sessions=list(sm.params.demo_sessions),
        models_dir="results/models",
        title=settings.get("title") or "egoinstruct — evaluation report",
        timeline_sessions=list(settings.get("timeline_sessions") or []),
        config_hash=sm.params.config_hash,
        repo=sm.params.repo,
    )
    outputs = ReportOutputs(Path(sm.output.html), Path(sm.output.summary), Path(sm.output.tables),
                            Path(sm.output.timelines))
    summary = build_report(inputs, sm.params.methods, outputs)
    log.info("report: %d sessions, methods %s, %d timelines, tables %s", summary["sessions"], summary["methods"],
             summary["timelines"], ", ".join(summary["tables"]))
    for note in summary["notes"]:
        log.info("note: %s", note)

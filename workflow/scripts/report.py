"""Rule report: the self-contained HTML report, summary.md, CSV tables and SVG timelines.

Every file the report reads is one of this rule's inputs; the package never looks elsewhere."""

from pathlib import Path

from egoinstruct.logutil import rule_logging
from egoinstruct.report import ReportInputs, ReportOutputs, build_report
from egoinstruct.report.explorer import layers_from_layout
from egoinstruct.settings.evaluation import ReportSettings

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    sessions = list(sm.params.sessions)
    syncs = dict(zip(sessions, sm.input.syncs, strict=True))
    settings = ReportSettings.from_mapping(sm.params.settings)
    inputs = ReportInputs(
        tasks=list(sm.params.tasks),
        metrics={task: {name: sm.input[f"metrics_{task}_{name}"] for name in sm.params.metric_files}
                 for task in sm.params.tasks},
        sessions=sessions,
        procedures=dict(sm.params.procedures),
        probes=dict(zip(sessions, sm.input.probes, strict=True)),
        syncs=syncs,
        speech=dict(zip(sessions, sm.input.speech, strict=True)),
        overview=sm.input.overview,
        mllm=list(sm.input.mllm),
        demo_quality=next(iter(sm.input.demo_quality), None),
        demo_sessions=list(sm.params.demo_sessions),
        folds=dict(zip(sm.params.folded_tasks, sm.input.folds, strict=True)),
        training={(task, method, int(fold)): path
                  for (task, method, fold), path in zip(sm.params.trained, sm.input.training, strict=True)},
        title=settings.title,
        timeline_sessions=list(settings.timeline_sessions),
        config_hash=sm.params.config_hash,
        repo=sm.params.repo,
        explorer={s: layers_from_layout(s, layout, sync=syncs[s], procedure=sm.params.procedures.get(s),
                                        synthetic=s in sm.params.demo_sessions)
                  for s, layout in sm.params.explorer.items()},
    )
    outputs = ReportOutputs(Path(sm.output.html), Path(sm.output.summary), Path(sm.output.tables),
                            Path(sm.output.timelines), Path(sm.output.sessions))
    summary = build_report(inputs, sm.params.methods, outputs)
    log.info("report: %d sessions, methods %s, %d timelines, tables %s", summary["sessions"], summary["methods"],
             summary["timelines"], ", ".join(summary["tables"]))
    log.info("explorer: %d session pages built in %.3f s", summary["explorer_pages"], summary["explorer_s"])
    for note in summary["notes"]:
        log.info("note: %s", note)

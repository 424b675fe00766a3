# Evaluation and report (config: evaluation, report; docs/report.md). `evaluate` scores every
# method registered in PREDICTION_METHODS (any stage, included before this file) on one time grid
# per session; `report` turns the metrics and the per-session data into one self-contained HTML
# page, summary.md and CSV tables. This file is the last include: `rule all` ends here.
from pathlib import Path

from egoinstruct.report.provenance import config_hash

EVALUATION = config.get("evaluation", {})
REPORT = config.get("report", {})
EVAL_TASKS = ["steps", "states"]
EVAL_FILES = ["main.csv", "per_fold.csv", "per_session.csv", "per_class.csv", "confusion.csv",
              "paired_tests.csv", "frames.parquet", "metrics.json"]


# The task's registered methods, each with its prediction files (as params: a change in the
# registry — a method, its kind, inputs or sessions — reruns the evaluation).
EVAL_METHODS = lambda task: {
    name: {**entry, "sessions": list(entry["sessions"]), "paths": prediction_paths(task, name)}
    for name, entry in PREDICTION_METHODS[task].items()
}
# session -> procedure and annotation files, for the sessions some method of the task predicts.
EVAL_ANNOTATIONS = lambda task: {
    s: {"procedure": session_procedure(s), "paths": ANNOTATIONS.loc[ANNOTATIONS.session == s, "path"].tolist()}
    for s in SESSIONS
    if any(s in entry["sessions"] for entry in PREDICTION_METHODS[task].values()) and (ANNOTATIONS.session == s).any()
}
# (method, model) of the registered zero-shot MLLM methods (named mllm-<model>) of a task.
MLLM_RUNS = lambda task: [
    (name, name[len("mllm-"):])
    for name, entry in PREDICTION_METHODS[task].items()
    if name.startswith("mllm-") and entry.get("kind") == "zero-shot"
]
# Demo sessions (every recording under the demo root), whose generator truth the report reads.
DEMO_TRUTH_SESSIONS = lambda: [
    s for s in SESSIONS
    if DEMO["enabled"] and all(Path(p).is_relative_to(DEMO_ROOT) for p in RECORDINGS.loc[RECORDINGS.session == s, "path"])
]
# Per-session files shown in the report's data section, and the MLLM run records.
REPORT_DATA_INPUTS = lambda wildcards: {
    "probes": expand("results/sessions/{s}/probe.json", s=SESSIONS),
    "syncs": expand("results/sessions/{s}/sync.json", s=SESSIONS),
    "alignments": expand("results/sessions/{s}/audio_alignment.json", s=SESSIONS),
    "speech": expand("results/sessions/{s}/transcript.json", s=SESSIONS),
    "overview": "results/data/inputs_overview.tsv",
    "truth": [f"{DEMO_ROOT}/{s}/truth/truth.json" for s in DEMO_TRUTH_SESSIONS()],
    "dialogues": [f"{DEMO_ROOT}/{s}/truth/dialogue.tsv" for s in DEMO_TRUTH_SESSIONS()],
    "transcripts": expand("results/sessions/{s}/transcript.parquet", s=DEMO_TRUTH_SESSIONS()),
    "turns": expand("results/sessions/{s}/speaker_turns.parquet", s=DEMO_TRUTH_SESSIONS()),
    "mllm": [
        path
        for task in EVAL_TASKS
        for method, model in MLLM_RUNS(task)
        for path in [
            f"results/mllm/{task}/{model}/run.json",
            *[f"results/mllm/{task}/{model}/windows/{s}.parquet" for s in PREDICTION_METHODS[task][method]["sessions"]],
        ]
    ],
}


TARGETS.append(lambda: ["results/report/index.html", "results/report/summary.md"])


rule evaluate:
    input:
        predictions=lambda wc: [p for m in PREDICTION_METHODS[wc.task] for p in prediction_paths(wc.task, m)],
        annotations=lambda wc: sorted({p for e in EVAL_ANNOTATIONS(wc.task).values() for p in e["paths"]}),
    output:
        main=report(
            "results/metrics/{task}/main.csv",
            caption="../report/evaluation.rst",
            category="Evaluation",
            subcategory="Metrics",
        ),
        per_fold="results/metrics/{task}/per_fold.csv",
        per_session="results/metrics/{task}/per_session.csv",
        per_class="results/metrics/{task}/per_class.csv",
        confusion="results/metrics/{task}/confusion.csv",
        paired_tests="results/metrics/{task}/paired_tests.csv",
        frames="results/metrics/{task}/frames.parquet",
        summary="results/metrics/{task}/metrics.json",
    params:
        code=SCRIPT_CODE("evaluate.py"),
        methods=lambda wc: EVAL_METHODS(wc.task),
        annotations=lambda wc: EVAL_ANNOTATIONS(wc.task),
        settings=EVALUATION,
        labels_dir=config["labels_dir"],
        eaf_tiers=config["annotation_checks"]["eaf_tiers"],
    wildcard_constraints:
        task="|".join(EVAL_TASKS),
    conda:
        CONDA_ENV
    log:
        "logs/evaluate/{task}.log",
    benchmark:
        "benchmarks/evaluate/{task}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/evaluate.py"


rule report:
    input:
        unpack(REPORT_DATA_INPUTS),
        metrics=expand("results/metrics/{task}/{file}", task=EVAL_TASKS, file=EVAL_FILES),
    output:
        html=report(
            "results/report/index.html",
            caption="../report/report.rst",
            category="Evaluation",
            subcategory="Report",
        ),
        summary="results/report/summary.md",
        tables=report(
            directory("results/report/tables"),
            patterns=["{name}.csv"],
            caption="../report/report_tables.rst",
            category="Evaluation",
            subcategory="Tables",
        ),
        timelines=report(
            directory("results/report/timelines"),
            patterns=["{name}.svg"],
            caption="../report/report_timelines.rst",
            category="Evaluation",
            subcategory="Timelines",
        ),
    params:
        code=SCRIPT_CODE("report.py"),
        tasks=EVAL_TASKS,
        methods=lambda wc: {task: EVAL_METHODS(task) for task in EVAL_TASKS},
        mllm=lambda wc: {task: dict(MLLM_RUNS(task)) for task in EVAL_TASKS},
        sessions=SESSIONS,
        procedures={s: session_procedure(s) for s in SESSIONS},
        demo_sessions=lambda wc: DEMO_TRUTH_SESSIONS(),
        demo_root=str(DEMO_ROOT),
        settings=REPORT,
        evaluation=EVALUATION,
        config_hash=config_hash(config),
        repo=workflow.basedir,
    conda:
        CONDA_ENV
    log:
        "logs/report.log",
    benchmark:
        "benchmarks/report.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/report.py"

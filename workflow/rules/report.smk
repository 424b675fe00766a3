# Evaluation and report (config: evaluation, report; docs/report.md). `evaluate` scores every
# method registered in PREDICTION_METHODS (any stage, included before this file) on one time grid
# per session; `demo_quality` compares the demo sessions' results with the generator's truth;
# `report` turns the metrics and the per-session data into one self-contained HTML page,
# summary.md and CSV tables. This file is the last include: `rule all` ends here.
#
# Every file the report shows is an input of the report rule; a missing one stops the job with
# its path (sections are optional by configuration — no MLLM, no demo — never by accident).
from egoinstruct.evaluation import MAJORITY_METHOD, OUTPUTS as EVAL_OUTPUTS
from egoinstruct.report.provenance import config_hash
from egoinstruct.settings.workflow import check_pairs

EVALUATION = SETTINGS.evaluation
REPORT = SETTINGS.report
EVAL_TASKS = list(TASK_NAMES)
# The evaluation's outputs of a task: name (egoinstruct.evaluation.OUTPUTS) -> file.
EVAL_FILES = {
    "main": "main.csv", "per_fold": "per_fold.csv", "per_session": "per_session.csv", "per_class": "per_class.csv",
    "confusion": "confusion.csv", "paired_tests": "paired_tests.csv", "frames": "frames.parquet",
    "summary": "metrics.json",
}
assert set(EVAL_FILES) == set(EVAL_OUTPUTS), "every evaluation output needs a file name"
EVAL_PATH = lambda task, name: f"results/metrics/{task}/{EVAL_FILES[name]}"

# Configured paired tests must name registered methods (or the majority reference row).
check_pairs(EVALUATION, {task: [*PREDICTION_METHODS[task], MAJORITY_METHOD] for task in EVAL_TASKS})

# The task's registered methods without their paths (params); the prediction files are the
# rule's inputs, method by method, each in the order of its sessions.
EVAL_METHODS = lambda task: {
    name: {"kind": entry["kind"], "inputs": list(entry["inputs"]), "sessions": list(entry["sessions"])}
    for name, entry in PREDICTION_METHODS[task].items()
}
EVAL_PREDICTIONS = lambda task: [p for m in PREDICTION_METHODS[task] for p in prediction_paths(task, m)]
# Annotated sessions that some method of the task predicts.
EVAL_SESSIONS = lambda task: [
    s for s in TASK_SCORED_SESSIONS[task] if any(s in e["sessions"] for e in PREDICTION_METHODS[task].values())
]
# (method, model) of the registered zero-shot MLLM methods (named mllm-<model>) of a task.
MLLM_RUNS = lambda task: [
    (name, name[len("mllm-"):])
    for name, entry in PREDICTION_METHODS[task].items()
    if name.startswith("mllm-") and entry.get("kind") == "zero-shot"
]
# Demo sessions (every recording under the demo root), whose generator truth demo_quality reads.
DEMO_TRUTH_SESSIONS = [
    s for s in SESSIONS
    if DEMO.enabled and all(Path(p).is_relative_to(DEMO_ROOT) for p in RECORDINGS.loc[RECORDINGS.session == s, "path"])
]
# Cross-validated baselines whose training records (curves) the report shows: task, method, fold.
TRAINED = [
    (task, method, fold)
    for task in EVAL_TASKS
    for method, entry in PREDICTION_METHODS[task].items()
    if entry["kind"] == "baseline"
    for fold in sorted({FOLD_OF[task][s] for s in entry["sessions"]})
]

# Tasks with cross-validated baselines (their folds.json is shown).
FOLDED_TASKS = list(dict.fromkeys(task for task, _, _ in TRAINED))


MLLM_REPORTED = lambda: [(task, model) for task in EVAL_TASKS for _, model in MLLM_RUNS(task)]


EXPLORER_LAYOUT = (
    {s: explorer_layout(s, [(t, m) for t, m in MLLM_REPORTED() if s in TASK_RUN_SESSIONS[t]]) for s in SESSIONS}
    if REPORT.explorer
    else {}
)
# Every file the explorer pages read, as report inputs.
EXPLORER_FILES = [
    path
    for layout in EXPLORER_LAYOUT.values()
    for path in [
        layout["transcript"],
        layout["turns"],
        layout["annotations"],
        *(m[2] for m in layout["mllm"]),
        *(d[k] for d in layout["devices"] for k in ("stream", "stream_index", "gaze", "faces", "sync")),
    ]
    if path is not None
]
report_inputs = lambda wildcards: {
    **{f"metrics_{task}_{name}": EVAL_PATH(task, name) for task in EVAL_TASKS for name in EVAL_FILES},
    "probes": expand("results/sessions/{s}/probe.json", s=SESSIONS),
    "syncs": expand("results/sessions/{s}/sync.json", s=SESSIONS),
    "speech": expand("results/sessions/{s}/transcript.json", s=SESSIONS),
    "overview": "results/data/inputs_overview.tsv",
    "demo_quality": ["results/data/demo_quality.json"] if DEMO_TRUTH_SESSIONS else [],
    "mllm": [f"results/mllm/{task}/{model}/summary.json" for task, model in MLLM_REPORTED()],
    "folds": [f"results/models/{task}/folds.json" for task in FOLDED_TASKS],
    "training": [f"results/models/{task}/{method}/fold{fold}/training.json" for task, method, fold in TRAINED],
    "explorer": EXPLORER_FILES,
}


TARGETS.append(lambda: ["results/report/index.html", "results/report/summary.md"])


rule evaluate:
    input:
        predictions=lambda wc: EVAL_PREDICTIONS(wc.task),
        annotations=lambda wc: validated_annotations(EVAL_SESSIONS(wc.task)),
        labels=lambda wc: label_files(wc.task, EVAL_SESSIONS(wc.task)),
    output:
        main=report(
            EVAL_PATH("{task}", "main"),
            caption="../report/evaluation.rst",
            category="Evaluation",
            subcategory="Metrics",
        ),
        per_fold=EVAL_PATH("{task}", "per_fold"),
        per_session=EVAL_PATH("{task}", "per_session"),
        per_class=EVAL_PATH("{task}", "per_class"),
        confusion=EVAL_PATH("{task}", "confusion"),
        paired_tests=EVAL_PATH("{task}", "paired_tests"),
        frames=EVAL_PATH("{task}", "frames"),
        summary=EVAL_PATH("{task}", "summary"),
    params:
        code=SCRIPT_CODE("evaluate.py"),
        methods=lambda wc: EVAL_METHODS(wc.task),
        annotated=lambda wc: {s: PROCEDURE_OF[s] for s in EVAL_SESSIONS(wc.task)},
        settings=EVALUATION.to_mapping(),
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


if DEMO_TRUTH_SESSIONS:

    rule demo_quality:
        # The demo sessions' results against the generator's truth: clock offsets, WER / DER /
        # role attribution, gaze pixel error and target agreement (report, egoinstruct check-demo).
        input:
            truth=[f"{DEMO_ROOT}/{s}/truth/truth.json" for s in DEMO_TRUTH_SESSIONS],
            dialogues=[f"{DEMO_ROOT}/{s}/truth/dialogue.tsv" for s in DEMO_TRUTH_SESSIONS],
            syncs=expand("results/sessions/{s}/sync.json", s=DEMO_TRUTH_SESSIONS),
            alignments=expand("results/sessions/{s}/audio_alignment.json", s=DEMO_TRUTH_SESSIONS),
            transcripts=expand("results/sessions/{s}/transcript.parquet", s=DEMO_TRUTH_SESSIONS),
            turns=expand("results/sessions/{s}/speaker_turns.parquet", s=DEMO_TRUTH_SESSIONS),
            speech=expand("results/sessions/{s}/transcript.json", s=DEMO_TRUTH_SESSIONS),
            gaze=[f"results/sessions/{s}/gaze/{d}.parquet" for s in DEMO_TRUTH_SESSIONS for d in gaze_devices(s)],
            gaze_truth=[f"{DEMO_ROOT}/{s}/truth/frames_{d}.parquet" for s in DEMO_TRUTH_SESSIONS for d in gaze_devices(s)],
        output:
            "results/data/demo_quality.json",
        params:
            code=SCRIPT_CODE("demo_quality.py"),
            sessions=DEMO_TRUTH_SESSIONS,
            gaze_devices=[[s, d] for s in DEMO_TRUTH_SESSIONS for d in gaze_devices(s)],
            demo_fps=DEMO.fps,
        log:
            "logs/demo_quality.log",
        benchmark:
            "benchmarks/demo_quality.tsv"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        script:
            "../scripts/demo_quality.py"


rule report:
    input:
        unpack(report_inputs),
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
        # one explorer page per session (sessions/{session}.html) and its data folder
        sessions=directory("results/report/sessions"),
    params:
        code=SCRIPT_CODE("report.py"),
        tasks=EVAL_TASKS,
        metric_files=list(EVAL_FILES),
        methods=lambda wc: {task: EVAL_METHODS(task) for task in EVAL_TASKS},
        trained=[list(t) for t in TRAINED],
        folded_tasks=FOLDED_TASKS,
        sessions=SESSIONS,
        procedures=PROCEDURE_OF,
        demo_sessions=DEMO_TRUTH_SESSIONS,
        explorer=EXPLORER_LAYOUT,
        settings=REPORT.to_mapping(),
        config_hash=config_hash(config),
        repo=workflow.basedir,
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

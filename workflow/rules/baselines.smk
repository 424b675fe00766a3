# Dataset assembly, folds, and the task-specific baselines (docs/models.md).
#
#   assemble:  per session, every feature group + every task's labels at dataset.fps
#   folds:     results/models/{task}/folds.json (per task, k folds of the sessions with its labels)
#   train_{task}: one job per method and fold, on that fold's training sessions only
#   predict_{task}: one job per method and held-out session, with the model of the session's fold
#
# Fold membership is computed here at parse time with the same function that writes folds.json,
# so each training job lists exactly its training sessions as inputs: a changed annotation reruns
# the assembly of its session, the models trained on it, and the predictions made with them.
from snakemake.logging import logger

from egoinstruct.folds import task_folds
from egoinstruct.labels import load_labels

DATASET = SETTINGS.dataset
BASELINES = SETTINGS.baselines
FOLDS = SETTINGS.folds

# Each task is cross-validated on its own sessions: those with its labels (a steps-only session
# is in the steps folds only), k folds balanced across procedures. A sample-sheet fold holds for
# every task the session has. Fewer sessions than folds.k: leave one session out (said once per
# run); a single session cannot be cross-validated, so the task's baselines are then left out.
_SHEET_FOLDS = {
    s: int(f) for s, f in RECORDINGS.drop_duplicates("session").set_index("session").fold.items()
    if s in ANNOTATED and not is_missing(f)
}
TASK_FOLDS = {
    task: task_folds(task, TASK_SCORED_SESSIONS[task], PROCEDURE_OF, FOLDS.k, FOLDS.seed, _SHEET_FOLDS)
    for task in TASK_NAMES
}
for _folds in TASK_FOLDS.values():
    if _folds.note:
        logger.warning(_folds.note)
BASELINE_SESSIONS = {task: folds.sessions for task, folds in TASK_FOLDS.items()}
FOLDS_K = {task: folds.k for task, folds in TASK_FOLDS.items()}
FOLD_OF = {task: folds.fold_of for task, folds in TASK_FOLDS.items()}
FOLD_TASKS = [task for task in TASK_NAMES if BASELINE_SESSIONS[task]]
# Sessions whose dataset table is assembled: those in some task's folds.
FOLD_SESSIONS = [s for s in SESSIONS if any(s in BASELINE_SESSIONS[task] for task in TASK_NAMES)]
METHODS = {task: BASELINES.enabled(task) for task in TASK_NAMES}


# Label sets read once at parse time: per task the labels of each session (per-procedure tasks:
# its procedure's) and the class list of the models (every label of the task; labels of the same
# name in several procedures are one class). A session's predictions are restricted to its labels.
_label_set = lambda task, procedure: list(
    load_labels(SETTINGS.labels_dir, task, procedure if TASKS[task].per_procedure else None).labels
)

SESSION_LABELS = {
    task: {s: _label_set(task, PROCEDURE_OF[s]) for s in BASELINE_SESSIONS[task]} for task in TASK_NAMES
}
TASK_CLASSES = {
    task: list(dict.fromkeys(
        label
        for procedure in sorted({PROCEDURE_OF[s] or "" for s in BASELINE_SESSIONS[task]})
        for label in _label_set(task, procedure or None)
    ))
    for task in TASK_NAMES
}
TRAIN_SESSIONS = lambda task, fold: [s for s in BASELINE_SESSIONS[task] if FOLD_OF[task][s] != int(fold)]
METHOD_GROUPS = lambda task, method: (
    list(DATASET.modality_sets[METHODS[task][method].modalities]) if METHODS[task][method].model != "majority" else []
)
# The devices whose tables feed a session's dataset: per role the first in the sheet (a second
# camera of the same role is not used by the baselines).
FIRST_BY_ROLE = lambda s, devices: {device_role(s, d): d for d in reversed(devices)}
assembly_devices = lambda s: {
    "visual": FIRST_BY_ROLE(s, feature_devices(s)),
    "gaze": FIRST_BY_ROLE(s, [d for d in gaze_devices(s) if d in head_devices(s)]),
    "head_motion": FIRST_BY_ROLE(s, head_video_devices(s)),
}

for _task in TASK_NAMES:
    for _method, _spec in METHODS[_task].items():
        if not BASELINE_SESSIONS[_task]:
            continue
        PREDICTION_METHODS[_task][_method] = {
            "sessions": BASELINE_SESSIONS[_task],
            "kind": "reference" if _spec.model == "majority" else "baseline",
            "inputs": METHOD_GROUPS(_task, _method),
        }


TARGETS.append(
    lambda: [
        *expand("results/sessions/{s}/dataset.parquet", s=FOLD_SESSIONS),
        *expand("results/models/{task}/folds.json", task=FOLD_TASKS),
        *[
            path
            for task in TASK_NAMES
            for method in METHODS[task]
            if method in PREDICTION_METHODS[task]
            for path in prediction_paths(task, method)
        ],
    ]
)


wildcard_constraints:
    fold="[0-9]+",


rule assemble:
    input:
        probe="results/sessions/{session}/probe.json",
        visual=lambda wc: [f"results/sessions/{wc.session}/visual/{d}.parquet" for d in assembly_devices(wc.session)["visual"].values()],
        gaze=lambda wc: [f"results/sessions/{wc.session}/gaze/{d}.parquet" for d in assembly_devices(wc.session)["gaze"].values()],
        head_motion=lambda wc: [f"results/sessions/{wc.session}/head_motion/{d}.parquet" for d in assembly_devices(wc.session)["head_motion"].values()],
        prosody="results/sessions/{session}/prosody.parquet",
        transcript="results/sessions/{session}/transcript.parquet",
        annotations="results/sessions/{session}/annotations.parquet",
    output:
        "results/sessions/{session}/dataset.parquet",
    params:
        code=SCRIPT_CODE("assemble.py"),
        devices=lambda wc: assembly_devices(wc.session),
        procedure=lambda wc: PROCEDURE_OF[wc.session],
        fps=DATASET.fps,
        text=DATASET.text.to_mapping(),
        visual_roles=list(FEATURES.roles),
    log:
        "logs/assemble/{session}.log",
    benchmark:
        "benchmarks/assemble/{session}.tsv"
    threads: 1
    resources:
        **sized("assemble"),
    script:
        "../scripts/assemble.py"


rule folds:
    output:
        "results/models/{task}/folds.json",
    params:
        code=SCRIPT_CODE("folds.py"),
        # the assignment itself, so any change to it (sessions, procedures, k, seed, the sheet's
        # fold column) rewrites the file
        procedures=lambda wc: {s: PROCEDURE_OF[s] for s in BASELINE_SESSIONS[wc.task]},
        k=lambda wc: FOLDS_K[wc.task],
        seed=FOLDS.seed,
        fixed=lambda wc: {s: f for s, f in _SHEET_FOLDS.items() if s in BASELINE_SESSIONS[wc.task]},
        assignment=lambda wc: FOLD_OF[wc.task],
    log:
        "logs/folds/{task}.log",
    benchmark:
        "benchmarks/folds/{task}.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../scripts/folds.py"


for _task in TASK_NAMES:

    rule:
        name:
            f"train_{_task}"
        input:
            folds=f"results/models/{_task}/folds.json",
            datasets=lambda wc, task=_task: expand(
                "results/sessions/{s}/dataset.parquet", s=TRAIN_SESSIONS(task, wc.fold)
            ),
        output:
            model=f"results/models/{_task}/{{method}}/fold{{fold}}/model.ckpt",
            summary=f"results/models/{_task}/{{method}}/fold{{fold}}/training.json",
            # checkpoints, epoch history and curves, or the boosting model's own record
            artifacts=directory(f"results/models/{_task}/{{method}}/fold{{fold}}/artifacts"),
        params:
            code=SCRIPT_CODE("train_baseline.py"),
            task=_task,
            method=lambda wc, task=_task: METHODS[task][wc.method].to_mapping(),
            groups=lambda wc, task=_task: METHOD_GROUPS(task, wc.method),
            classes=TASK_CLASSES[_task],
            sessions=lambda wc, task=_task: TRAIN_SESSIONS(task, wc.fold),
            seed=BASELINES.seed,
            device=BASELINES.device,
        wildcard_constraints:
            method="|".join(re.escape(m) for m in METHODS[_task]) or "no-method-enabled",
        log:
            f"logs/train/{_task}/{{method}}/fold{{fold}}.log",
        benchmark:
            f"benchmarks/train/{_task}/{{method}}/fold{{fold}}.tsv"
        threads: BASELINES.threads
        resources:
            # more on a retry; a GPU only for the torch models (gbdt and majority run on CPUs)
            mem_mb=lambda wc, attempt: 6000 * attempt,
            runtime=lambda wc, attempt: 240 * attempt,
            gpu=lambda wc, task=_task: BASELINES.gpus(METHODS[task][wc.method], training=True),
        script:
            "../scripts/train_baseline.py"

    rule:
        name:
            f"predict_{_task}"
        input:
            model=lambda wc, task=_task: f"results/models/{task}/{wc.method}/fold{FOLD_OF[task][wc.session]}/model.ckpt",
            dataset="results/sessions/{session}/dataset.parquet",
        output:
            f"results/predictions/{_task}/{{method}}/{{session}}.parquet",
        params:
            code=SCRIPT_CODE("predict_baseline.py"),
            task=_task,
            method=lambda wc, task=_task: METHODS[task][wc.method].to_mapping(),
            groups=lambda wc, task=_task: METHOD_GROUPS(task, wc.method),
            classes=TASK_CLASSES[_task],
            labels=lambda wc, task=_task: SESSION_LABELS[task][wc.session],
            fold=lambda wc, task=_task: FOLD_OF[task][wc.session],
            device=BASELINES.device,
        wildcard_constraints:
            method="|".join(re.escape(m) for m in METHODS[_task]) or "no-method-enabled",
        log:
            f"logs/predict/{_task}/{{method}}/{{session}}.log",
        benchmark:
            f"benchmarks/predict/{_task}/{{method}}/{{session}}.tsv"
        threads: 1
        resources:
            mem_mb=lambda wc, attempt: 3000 * attempt,
            runtime=lambda wc, attempt: 20 * attempt,
            gpu=lambda wc, task=_task: BASELINES.gpus(METHODS[task][wc.method], training=False),
        script:
            "../scripts/predict_baseline.py"

# Dataset assembly, folds, and the task-specific baselines (docs/models.md).
#
#   assemble:  per session, every feature group + both label tiers at dataset.fps
#   folds:     results/models/folds.json (k folds by session; every model reads it)
#   train_{task}: one job per method and fold, on that fold's training sessions only
#   predict_{task}: one job per method and held-out session, with the model of the session's fold
#
# Fold membership is computed here at parse time with the same function that writes folds.json,
# so each training job lists exactly its training sessions as inputs: a changed annotation reruns
# the assembly of its session, the models trained on it, and the predictions made with them.
from snakemake.logging import logger

from egoinstruct.folds import assign_folds
from egoinstruct.labels import load_labels

DATASET = config["dataset"]
BASELINES = config["baselines"]
FOLDS = config["folds"]
BASELINE_TASKS = ("steps", "states")

# Sessions with annotations take part in training and evaluation; the steps task also needs the
# session's procedure (its label set).
ANNOTATED = [s for s in SESSIONS if (ANNOTATIONS.session == s).any()]
TASK_SESSIONS = {
    "steps": [s for s in ANNOTATED if session_procedure(s)],
    "states": ANNOTATED,
}
_fixed_folds = {
    s: int(f) for s, f in RECORDINGS.drop_duplicates("session").set_index("session").fold.items()
    if s in ANNOTATED and not is_missing(f)
}
# Fewer annotated sessions than folds.k: leave-one-session-out instead (said once per run); a
# single annotated session cannot be cross-validated, so the baselines are then left out.
FOLDS_K = min(FOLDS["k"], len(ANNOTATED))
if 2 <= len(ANNOTATED) < FOLDS["k"]:
    logger.warning(
        f"folds.k is {FOLDS['k']} but only {len(ANNOTATED)} sessions are annotated: using "
        f"{FOLDS_K} folds (leave one session out)"
    )
if len(ANNOTATED) < 2:
    ANNOTATED = []
    TASK_SESSIONS = {"steps": [], "states": []}
FOLD_OF = (
    assign_folds({s: session_procedure(s) for s in ANNOTATED}, FOLDS_K, FOLDS["seed"], _fixed_folds)
    if ANNOTATED
    else {}
)
METHODS = {
    task: {name: m for name, m in BASELINES[task].items() if m.get("enabled", True)} for task in BASELINE_TASKS
}
# Class lists: every state; the steps of every procedure in the annotation sheet (shared labels
# such as `background` are one class). Each session's predictions are restricted to its own
# procedure's labels.
PROCEDURES = sorted({session_procedure(s) for s in TASK_SESSIONS["steps"]})
# label files read once at parse time (the predict jobs' params look them up per session)
STEP_LABELS = {p: list(load_labels(config["labels_dir"], "steps", p).labels) for p in PROCEDURES}
TASK_CLASSES = {
    "states": list(load_labels(config["labels_dir"], "states").labels),
    "steps": list(dict.fromkeys(l for p in PROCEDURES for l in STEP_LABELS[p])),
}
SESSION_LABELS = lambda task, s: STEP_LABELS[session_procedure(s)] if task == "steps" else TASK_CLASSES["states"]
TRAIN_SESSIONS = lambda task, fold: [s for s in TASK_SESSIONS[task] if FOLD_OF[s] != int(fold)]
METHOD_GROUPS = lambda task, method: (
    DATASET["modality_sets"][METHODS[task][method]["modalities"]]
    if METHODS[task][method]["model"] != "majority"
    else []
)
# The devices whose tables feed a session's dataset: per role the first in the sheet (a second
# camera of the same role is not used by the baselines).
DEVICE_ROLE = lambda s, d: device_rows(s, d)[0]["role"]
FIRST_BY_ROLE = lambda s, devices: {DEVICE_ROLE(s, d): d for d in reversed(devices)}
assembly_devices = lambda s: {
    "visual": FIRST_BY_ROLE(s, feature_devices(s)),
    "gaze": FIRST_BY_ROLE(s, [d for d in gaze_devices(s) if d in head_devices(s)]),
    "head_motion": FIRST_BY_ROLE(s, head_video_devices(s)),
}
BASELINE_GPU = 1 if BASELINES["device"].startswith("cuda") else 0

for _task in BASELINE_TASKS:
    for _method, _spec in METHODS[_task].items():
        if _spec["model"] != "majority" and _spec.get("modalities") not in DATASET["modality_sets"]:
            raise ValueError(
                f"config baselines.{_task}.{_method}.modalities: {_spec.get('modalities')!r} is not a "
                f"name in dataset.modality_sets ({', '.join(DATASET['modality_sets'])})"
            )
        if not TASK_SESSIONS[_task]:
            continue
        PREDICTION_METHODS[_task][_method] = {
            "sessions": TASK_SESSIONS[_task],
            "kind": "reference" if _spec["model"] == "majority" else "baseline",
            "inputs": METHOD_GROUPS(_task, _method),
        }


TARGETS.append(
    lambda: [
        *expand("results/sessions/{s}/dataset.parquet", s=ANNOTATED),
        *(["results/models/folds.json"] if ANNOTATED else []),
        *[
            path
            for task in BASELINE_TASKS
            for method in METHODS[task]
            if method in PREDICTION_METHODS[task]
            for path in prediction_paths(task, method)
        ],
    ]
)


wildcard_constraints:
    task="steps|states",
    fold="[0-9]+",


rule assemble:
    input:
        probe="results/sessions/{session}/probe.json",
        visual=lambda wc: [f"results/sessions/{wc.session}/visual/{d}.parquet" for d in assembly_devices(wc.session)["visual"].values()],
        gaze=lambda wc: [f"results/sessions/{wc.session}/gaze/{d}.parquet" for d in assembly_devices(wc.session)["gaze"].values()],
        head_motion=lambda wc: [f"results/sessions/{wc.session}/head_motion/{d}.parquet" for d in assembly_devices(wc.session)["head_motion"].values()],
        prosody="results/sessions/{session}/prosody.parquet",
        transcript="results/sessions/{session}/transcript.parquet",
        annotations=lambda wc: ANNOTATIONS.loc[ANNOTATIONS.session == wc.session, "path"].tolist(),
    output:
        "results/sessions/{session}/dataset.parquet",
    params:
        code=SCRIPT_CODE("assemble.py"),
        devices=lambda wc: assembly_devices(wc.session),
        procedure=lambda wc: session_procedure(wc.session),
        annotations=lambda wc: session_annotation_rows(wc.session),
        eaf_tiers=config["annotation_checks"]["eaf_tiers"],
        fps=DATASET["fps"],
        text=DATASET["text"],
        visual_roles=config["features"]["roles"],
    conda:
        CONDA_ENV
    log:
        "logs/assemble/{session}.log",
    benchmark:
        "benchmarks/assemble/{session}.tsv"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    script:
        "../scripts/assemble.py"


rule folds:
    output:
        "results/models/folds.json",
    params:
        code=SCRIPT_CODE("folds.py"),
        # the assignment itself, so any change to it (sessions, procedures, k, seed, the sheet's
        # fold column) rewrites the file
        procedures={s: session_procedure(s) for s in ANNOTATED},
        k=FOLDS_K,
        seed=FOLDS["seed"],
        fixed=_fixed_folds,
        assignment=FOLD_OF,
    conda:
        CONDA_ENV
    log:
        "logs/folds.log",
    benchmark:
        "benchmarks/folds.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../scripts/folds.py"


for _task in BASELINE_TASKS:

    rule:
        name:
            f"train_{_task}"
        input:
            folds="results/models/folds.json",
            datasets=lambda wc, task=_task: expand(
                "results/sessions/{s}/dataset.parquet", s=TRAIN_SESSIONS(task, wc.fold)
            ),
        output:
            model=f"results/models/{_task}/{{method}}/fold{{fold}}/model.ckpt",
            summary=f"results/models/{_task}/{{method}}/fold{{fold}}/training.json",
        params:
            code=SCRIPT_CODE("train_baseline.py"),
            task=_task,
            method=lambda wc, task=_task: METHODS[task][wc.method],
            groups=lambda wc, task=_task: METHOD_GROUPS(task, wc.method),
            classes=TASK_CLASSES[_task],
            sessions=lambda wc, task=_task: TRAIN_SESSIONS(task, wc.fold),
            seed=BASELINES["seed"],
            device=BASELINES["device"],
        wildcard_constraints:
            method="|".join(re.escape(m) for m in METHODS[_task]) or "no-method-enabled",
        conda:
            CONDA_ENV
        log:
            f"logs/train/{_task}/{{method}}/fold{{fold}}.log",
        benchmark:
            f"benchmarks/train/{_task}/{{method}}/fold{{fold}}.tsv"
        threads: BASELINES["threads"]
        resources:
            mem_mb=6000,
            runtime=240,
            gpu=BASELINE_GPU,
        script:
            "../scripts/train_baseline.py"

    rule:
        name:
            f"predict_{_task}"
        input:
            model=lambda wc, task=_task: f"results/models/{task}/{wc.method}/fold{FOLD_OF[wc.session]}/model.ckpt",
            dataset="results/sessions/{session}/dataset.parquet",
        output:
            f"results/predictions/{_task}/{{method}}/{{session}}.parquet",
        params:
            code=SCRIPT_CODE("predict_baseline.py"),
            task=_task,
            method=lambda wc, task=_task: METHODS[task][wc.method],
            groups=lambda wc, task=_task: METHOD_GROUPS(task, wc.method),
            classes=TASK_CLASSES[_task],
            labels=lambda wc, task=_task: SESSION_LABELS(task, wc.session),
            fold=lambda wc: FOLD_OF[wc.session],
            device=BASELINES["device"],
        wildcard_constraints:
            method="|".join(re.escape(m) for m in METHODS[_task]) or "no-method-enabled",
        conda:
            CONDA_ENV
        log:
            f"logs/predict/{_task}/{{method}}/{{session}}.log",
        benchmark:
            f"benchmarks/predict/{_task}/{{method}}/{{session}}.tsv"
        threads: 1
        resources:
            mem_mb=3000,
            runtime=20,
            gpu=BASELINE_GPU,
        script:
            "../scripts/predict_baseline.py"

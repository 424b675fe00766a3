# Zero-shot multimodal LLMs (config: mllm; docs/mllm.md). One job per task and model runs the
# model over the windows of every session (one model load, one bounded pool of calls, one
# response cache), writing frame-level predictions in the shared predictions contract and the
# window records; a summary per run scores it on the evaluation's grid (egoinstruct.evaluation).
from egoinstruct.mllm.windows import resolve_devices

MLLM = SETTINGS.mllm
MLLM_MODELS = MLLM.enabled_models()
MLLM_TASKS = list(MLLM.tasks)
MLLM_FRAME_DEVICES = lambda s: [
    d for d in resolve_devices(MLLM.devices, device_roles(s), reference_device(s)) if d in video_devices(s)
]
MLLM_AUDIO_DEVICE = lambda s: (
    next(iter(resolve_devices([MLLM.audio_device], device_roles(s), reference_device(s))), None)
    if MLLM.audio_device else None
)
MLLM_TAKES = lambda model, modality: modality in MLLM.models[model].modalities


# What the script gets per session, in order: its procedure and which media it has (only for
# models that take them). The paths are the rule's inputs, listed in the same order.
mllm_layout = lambda model, task: [
    {
        "session": s,
        "procedure": PROCEDURE_OF[s],
        "frame_devices": MLLM_FRAME_DEVICES(s)
        if (MLLM_TAKES(model, "image") or MLLM_TAKES(model, "video")) and MLLM.frames_per_window > 0
        else [],
        "audio": bool(MLLM_TAKES(model, "audio") and MLLM_AUDIO_DEVICE(s)),
    }
    for s in TASK_RUN_SESSIONS[task]
]
# The reference device's probe (session duration), not probe.json: that one also checks the
# annotations, and an annotation edit must not rerun zero-shot inference.
mllm_inputs = lambda wildcards, task: {
    "probes": [reference_probe_of(e["session"]) for e in mllm_layout(wildcards.model, task)],
    "transcripts": [f"results/sessions/{e['session']}/transcript.parquet" for e in mllm_layout(wildcards.model, task)],
    "frames": [
        f"results/sessions/{e['session']}/frames/{d}.parquet"
        for e in mllm_layout(wildcards.model, task)
        for d in e["frame_devices"]
    ],
    "audio": [
        f"results/sessions/{e['session']}/audio/{MLLM_AUDIO_DEVICE(e['session'])}.wav"
        for e in mllm_layout(wildcards.model, task)
        if e["audio"]
    ],
}


for _task in MLLM_TASKS:
    for _model in MLLM_MODELS:
        PREDICTION_METHODS[_task][f"mllm-{_model}"] = {
            "sessions": TASK_RUN_SESSIONS[_task],
            "kind": "zero-shot",
            "inputs": list(MLLM.models[_model].modalities),
        }


TARGETS.append(
    lambda: [
        *[
            f"results/predictions/{task}/mllm-{model}/{s}.parquet"
            for task in MLLM_TASKS
            for model in MLLM_MODELS
            for s in TASK_RUN_SESSIONS[task]
        ],
        *(["results/mllm/summary.tsv"] if MLLM_MODELS and MLLM_TASKS else []),
    ]
)


for _task in MLLM_TASKS:

    rule:
        # One model on one task over all sessions; the response cache (mllm.cache_dir) is
        # deliberately not an output, so forced reruns and deleted results cost no calls.
        name:
            f"mllm_predict_{_task}"
        input:
            unpack(lambda wc, task=_task: mllm_inputs(wc, task)),
            # the label sets: their names and descriptions are in every prompt
            labels=label_files(_task, TASK_RUN_SESSIONS[_task]),
        output:
            predictions=expand(
                "results/predictions/{task}/mllm-{{model}}/{s}.parquet", task=_task, s=TASK_RUN_SESSIONS[_task]
            ),
            windows=expand("results/mllm/{task}/{{model}}/windows/{s}.parquet", task=_task, s=TASK_RUN_SESSIONS[_task]),
            run=f"results/mllm/{_task}/{{model}}/run.json",
        params:
            code=SCRIPT_CODE("mllm_predict.py"),
            task=_task,
            model=lambda wc: MLLM.models[wc.model].to_mapping(),
            stage={**MLLM.to_mapping(), "models": {}},
            layout=lambda wc, task=_task: mllm_layout(wc.model, task),
        wildcard_constraints:
            model="|".join(re.escape(m) for m in MLLM_MODELS) or "no-model-enabled",
        log:
            f"logs/mllm_predict/{_task}/{{model}}.log",
        benchmark:
            f"benchmarks/mllm_predict/{_task}/{{model}}.tsv"
        # One thread: llama.cpp's CPU threads spin-wait and collapse when the cores are shared
        # (the steps and states jobs run side by side); server backends need none.
        threads: 1
        resources:
            mem_mb=4000,
            runtime=240,
        script:
            "../scripts/mllm_predict.py"


rule mllm_summary:
    # Run statistics plus the run's score on the evaluation's grid (the same numbers as the
    # `evaluate` rule's pooled figures for this method).
    input:
        run="results/mllm/{task}/{model}/run.json",
        predictions=lambda wc: expand(
            "results/predictions/{task}/mllm-{model}/{s}.parquet", task=wc.task, model=wc.model,
            s=TASK_RUN_SESSIONS[wc.task],
        ),
        annotations=lambda wc: validated_annotations(TASK_SCORED_SESSIONS[wc.task]),
        labels=lambda wc: label_files(wc.task, TASK_SCORED_SESSIONS[wc.task]),
    output:
        "results/mllm/{task}/{model}/summary.json",
    params:
        code=SCRIPT_CODE("mllm_summary.py"),
        sessions=lambda wc: TASK_RUN_SESSIONS[wc.task],
        annotated=lambda wc: {s: PROCEDURE_OF[s] for s in TASK_SCORED_SESSIONS[wc.task]},
        evaluation=SETTINGS.evaluation.to_mapping(),
    wildcard_constraints:
        model="|".join(re.escape(m) for m in MLLM_MODELS) or "no-model-enabled",
    log:
        "logs/mllm_summary/{task}/{model}.log",
    benchmark:
        "benchmarks/mllm_summary/{task}/{model}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/mllm_summary.py"


rule mllm_overview:
    input:
        expand("results/mllm/{task}/{model}/summary.json", task=MLLM_TASKS, model=MLLM_MODELS),
    output:
        report(
            "results/mllm/summary.tsv",
            caption="../report/mllm.rst",
            category="Zero-shot MLLMs",
        ),
    params:
        code=SCRIPT_CODE("mllm_overview.py"),
    log:
        "logs/mllm_overview.log",
    benchmark:
        "benchmarks/mllm_overview.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../scripts/mllm_overview.py"

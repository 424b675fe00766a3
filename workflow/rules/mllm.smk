# Zero-shot multimodal LLMs (config: mllm; docs/mllm.md). One job per task and model runs the
# model over the windows of every session (one model load, one bounded pool of calls, one
# response cache), writing frame-level predictions in the shared predictions contract and the
# window records; a summary per run scores it against the annotations.
from egoinstruct.mllm.windows import resolve_devices

MLLM = config["mllm"]
MLLM_MODELS = [name for name, model in MLLM["models"].items() if model.get("enabled", True)]
# The steps task needs each session's procedure (from the annotation sheet).
MLLM_SESSIONS = {
    "steps": [s for s in SESSIONS if session_procedure(s)],
    "states": list(SESSIONS),
}
MLLM_ROLES = lambda s: {d: device_rows(s, d)[0]["role"] for d in session_devices(s)}
MLLM_FRAME_DEVICES = lambda s: [
    d for d in resolve_devices(MLLM["devices"], MLLM_ROLES(s), reference_device(s)) if d in video_devices(s)
]
MLLM_AUDIO_DEVICE = lambda s: next(iter(resolve_devices([MLLM["audio_device"]], MLLM_ROLES(s), reference_device(s))), None)
MLLM_TAKES = lambda model, modality: modality in MLLM["models"][model]["modalities"]
# What the script needs per session; media only for models that take it.
MLLM_SESSION_INPUTS = lambda model, sessions: [
    {
        "session": s,
        "procedure": session_procedure(s),
        # the reference device's probe (session duration), not probe.json: that one also checks
        # the annotations, and an annotation edit must not rerun zero-shot inference
        "probe": f"results/sessions/{s}/probe/{reference_device(s)}.json",
        "transcript": f"results/sessions/{s}/transcript.parquet",
        "frames": {
            d: f"results/sessions/{s}/frames/{d}.parquet" for d in MLLM_FRAME_DEVICES(s)
        } if (MLLM_TAKES(model, "image") or MLLM_TAKES(model, "video")) and MLLM["frames_per_window"] > 0 else {},
        "audio": f"results/sessions/{s}/audio/{MLLM_AUDIO_DEVICE(s)}.wav"
        if MLLM_TAKES(model, "audio") and MLLM_AUDIO_DEVICE(s) else None,
    }
    for s in sessions
]
MLLM_MEDIA = lambda model, sessions: [
    path
    for entry in MLLM_SESSION_INPUTS(model, sessions)
    for path in [*entry["frames"].values(), *([entry["audio"]] if entry["audio"] else [])]
]

for _task in MLLM["tasks"]:
    for _model in MLLM_MODELS:
        PREDICTION_METHODS[_task][f"mllm-{_model}"] = {
            "sessions": MLLM_SESSIONS[_task],
            "kind": "zero-shot",
            "inputs": ["text" if m == "text" else m for m in MLLM["models"][_model]["modalities"]],
        }


TARGETS.append(
    lambda: [
        *[
            f"results/predictions/{task}/mllm-{model}/{s}.parquet"
            for task in MLLM["tasks"]
            for model in MLLM_MODELS
            for s in MLLM_SESSIONS[task]
        ],
        *(["results/mllm/summary.tsv"] if MLLM_MODELS and MLLM["tasks"] else []),
    ]
)


for _task in MLLM["tasks"]:

    rule:
        # One model on one task over all sessions; the response cache (mllm.cache_dir) is
        # deliberately not an output, so forced reruns and deleted results cost no calls.
        name:
            f"mllm_predict_{_task}"
        input:
            probes=[f"results/sessions/{s}/probe/{reference_device(s)}.json" for s in MLLM_SESSIONS[_task]],
            transcripts=expand("results/sessions/{s}/transcript.parquet", s=MLLM_SESSIONS[_task]),
            media=lambda wc, sessions=MLLM_SESSIONS[_task]: MLLM_MEDIA(wc.model, sessions),
        output:
            predictions=expand(
                "results/predictions/{task}/mllm-{{model}}/{s}.parquet", task=_task, s=MLLM_SESSIONS[_task]
            ),
            windows=expand("results/mllm/{task}/{{model}}/windows/{s}.parquet", task=_task, s=MLLM_SESSIONS[_task]),
            run=f"results/mllm/{_task}/{{model}}/run.json",
        params:
            code=SCRIPT_CODE("mllm_predict.py"),
            task=_task,
            model=lambda wc: MLLM["models"][wc.model],
            stage={k: v for k, v in MLLM.items() if k != "models"},
            sessions=lambda wc, sessions=MLLM_SESSIONS[_task]: MLLM_SESSION_INPUTS(wc.model, sessions),
            labels_dir=config["labels_dir"],
        wildcard_constraints:
            model="|".join(MLLM_MODELS) or "no-model-enabled",
        conda:
            CONDA_ENV
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
    # Run statistics plus a quick score against the annotations (the evaluation stage is the
    # authority on cross-method metrics).
    input:
        run="results/mllm/{task}/{model}/run.json",
        predictions=lambda wc: expand(
            "results/predictions/{task}/mllm-{model}/{s}.parquet", task=wc.task, model=wc.model, s=MLLM_SESSIONS[wc.task]
        ),
        annotations=lambda wc: sorted(set(ANNOTATIONS.loc[ANNOTATIONS.session.isin(MLLM_SESSIONS[wc.task]), "path"])),
    output:
        "results/mllm/{task}/{model}/summary.json",
    params:
        code=SCRIPT_CODE("mllm_summary.py"),
        sessions=lambda wc: MLLM_SESSIONS[wc.task],
        annotations=lambda wc: {
            s: ANNOTATIONS.loc[ANNOTATIONS.session == s, "path"].iloc[0]
            for s in MLLM_SESSIONS[wc.task]
            if (ANNOTATIONS.session == s).any()
        },
        eaf_tiers=config["annotation_checks"]["eaf_tiers"],
    wildcard_constraints:
        task="steps|states",
        model="|".join(MLLM_MODELS) or "no-model-enabled",
    conda:
        CONDA_ENV
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
        expand("results/mllm/{task}/{model}/summary.json", task=MLLM["tasks"], model=MLLM_MODELS),
    output:
        report(
            "results/mllm/summary.tsv",
            caption="../report/mllm.rst",
            category="Zero-shot MLLMs",
        ),
    params:
        code=SCRIPT_CODE("mllm_overview.py"),
    conda:
        CONDA_ENV
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

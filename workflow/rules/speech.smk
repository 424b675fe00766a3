# Speech: transcripts with speakers and roles (whisperx), and prosody features.
# One job per session: role attribution compares the wearers' tracks, so a session's devices are
# read together. All settings travel as params, so changing a speech setting reruns these jobs.

SPEECH = SETTINGS.speech


TARGETS.append(
    lambda: [
        path
        for session in SESSIONS
        for path in [
            f"results/sessions/{session}/transcript.parquet",
            f"results/sessions/{session}/prosody.parquet",
            f"results/sessions/{session}/prosody_utterances.parquet",
            f"results/sessions/{session}/speech.png",
            *([f"results/sessions/{session}/egemaps.parquet"] if SETTINGS.prosody.opensmile else []),
        ]
    ]
)


rule transcribe:
    input:
        wavs=lambda wc: expand(
            "results/sessions/{session}/audio/{device}.wav",
            session=wc.session,
            device=session_devices(wc.session),
        ),
    output:
        transcript="results/sessions/{session}/transcript.parquet",
        turns="results/sessions/{session}/speaker_turns.parquet",
        quality="results/sessions/{session}/transcript.json",
    params:
        code=SCRIPT_CODE("transcribe.py"),
        devices=lambda wc: session_devices(wc.session),
        roles=lambda wc: device_roles(wc.session),
        reference=lambda wc: reference_device(wc.session),
        settings=SPEECH.to_mapping(),
    log:
        "logs/transcribe/{session}.log",
    benchmark:
        "benchmarks/transcribe/{session}.tsv"
    threads: SPEECH.threads
    resources:
        **sized("transcribe"),
        gpu=1 if SPEECH.asr.device == "cuda" else 0,
    script:
        "../scripts/transcribe.py"


rule prosody:
    input:
        wavs=lambda wc: expand(
            "results/sessions/{session}/audio/{device}.wav",
            session=wc.session,
            device=session_devices(wc.session),
        ),
        transcript="results/sessions/{session}/transcript.parquet",
        turns="results/sessions/{session}/speaker_turns.parquet",
    output:
        prosody="results/sessions/{session}/prosody.parquet",
        utterances="results/sessions/{session}/prosody_utterances.parquet",
        plot=report(
            "results/sessions/{session}/speech.png",
            caption="../report/speech.rst",
            category="Speech",
            subcategory="{session}",
        ),
    params:
        code=SCRIPT_CODE("prosody.py"),
        devices=lambda wc: session_devices(wc.session),
        roles=lambda wc: device_roles(wc.session),
        reference=lambda wc: reference_device(wc.session),
        settings=SETTINGS.prosody.to_mapping(),
    log:
        "logs/prosody/{session}.log",
    benchmark:
        "benchmarks/prosody/{session}.tsv"
    threads: 1
    resources:
        **sized("prosody"),
    script:
        "../scripts/prosody.py"


rule egemaps:
    # Only requested (TARGETS) when prosody.opensmile is true.
    input:
        wavs=lambda wc: expand(
            "results/sessions/{session}/audio/{device}.wav",
            session=wc.session,
            device=session_devices(wc.session),
        ),
    output:
        "results/sessions/{session}/egemaps.parquet",
    params:
        code=SCRIPT_CODE("egemaps.py"),
        devices=lambda wc: session_devices(wc.session),
        roles=lambda wc: device_roles(wc.session),
        reference=lambda wc: reference_device(wc.session),
    log:
        "logs/egemaps/{session}.log",
    benchmark:
        "benchmarks/egemaps/{session}.tsv"
    threads: 1
    resources:
        **sized("egemaps"),
    script:
        "../scripts/egemaps.py"

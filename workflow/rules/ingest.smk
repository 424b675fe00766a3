# Ingest and synchronise: every device onto the session clock (t = 0 at the reference device's
# first frame). One job per device wherever possible, so a changed input reruns only its own jobs.


TARGETS.append(
    lambda: [
        path
        for session in SESSIONS
        for path in [
            f"results/sessions/{session}/sync.json",
            f"results/sessions/{session}/audio_alignment.json",
            *expand("results/sessions/{s}/audio/{device}.wav", s=session, device=session_devices(session)),
            *expand("results/sessions/{s}/frames/{device}.parquet", s=session, device=video_devices(session)),
        ]
    ]
)


rule device_audio:
    # 16 kHz mono on the device's own clock (sample 0 = first video frame); only sync and the
    # session audio need it.
    input:
        media=lambda wc: device_media(wc.session, wc.device),
        export_log=lambda wc: device_export_log(wc.session, wc.device),
        probe=device_probe,
    output:
        wav=temp("results/sessions/{session}/audio_device/{device}.wav"),
        meta="results/sessions/{session}/audio_device/{device}.json",
    params:
        code=SCRIPT_CODE("device_audio.py"),
        media=SETTINGS.media.to_mapping(),
    log:
        "logs/device_audio/{session}/{device}.log",
    benchmark:
        "benchmarks/device_audio/{session}/{device}.tsv"
    threads: 1
    resources:
        **sized("device_audio"),
    script:
        "../scripts/device_audio.py"


rule sync_device:
    input:
        reference=lambda wc: f"results/sessions/{wc.session}/audio_device/{reference_device(wc.session)}.wav",
        device="results/sessions/{session}/audio_device/{device}.wav",
    output:
        "results/sessions/{session}/sync/{device}.json",
    params:
        code=SCRIPT_CODE("sync_device.py"),
        reference_device=lambda wc: reference_device(wc.session),
        role=lambda wc: device_role(wc.session, wc.device),
        sheet_offset_s=lambda wc: device_sheet_offset(wc.session, wc.device),
        settings=SETTINGS.sync.to_mapping(),
        recordings_sheet=SETTINGS.recordings,
    log:
        "logs/sync_device/{session}/{device}.log",
    benchmark:
        "benchmarks/sync_device/{session}/{device}.tsv"
    threads: 1
    resources:
        **sized("sync_device"),
    script:
        "../scripts/sync_device.py"


rule sync_session:
    # The session clock: every device's clock, and every pair of estimated devices checked
    # directly against them (closure). Every later stage reads its device's clock from here.
    input:
        devices=lambda wc: expand(
            "results/sessions/{session}/sync/{device}.json",
            session=wc.session,
            device=session_devices(wc.session),
        ),
        audio=lambda wc: expand(
            "results/sessions/{session}/audio_device/{device}.wav",
            session=wc.session,
            device=session_devices(wc.session),
        ),
        reference_probe=reference_probe,
    output:
        sync="results/sessions/{session}/sync.json",
        plot=report(
            "results/sessions/{session}/sync.png",
            caption="../report/sync.rst",
            category="Synchronisation",
            subcategory="{session}",
        ),
    params:
        code=SCRIPT_CODE("sync_session.py"),
        devices=lambda wc: session_devices(wc.session),
        settings=SETTINGS.sync.to_mapping(),
        recordings_sheet=SETTINGS.recordings,
    log:
        "logs/sync_session/{session}.log",
    benchmark:
        "benchmarks/sync_session/{session}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/sync_session.py"


rule session_audio:
    input:
        unpack(device_clock_inputs),
        wav="results/sessions/{session}/audio_device/{device}.wav",
        meta="results/sessions/{session}/audio_device/{device}.json",
    output:
        wav="results/sessions/{session}/audio/{device}.wav",
        meta="results/sessions/{session}/audio/{device}.json",
    params:
        code=SCRIPT_CODE("session_audio.py"),
    log:
        "logs/session_audio/{session}/{device}.log",
    benchmark:
        "benchmarks/session_audio/{session}/{device}.tsv"
    threads: 1
    resources:
        **sized("session_audio"),
    script:
        "../scripts/session_audio.py"


rule audio_alignment:
    # Residual lag between each session-aligned track and the reference: ~0 when sync worked.
    input:
        lambda wc: expand(
            "results/sessions/{session}/audio/{device}.wav",
            session=wc.session,
            device=session_devices(wc.session),
        ),
    output:
        "results/sessions/{session}/audio_alignment.json",
    params:
        code=SCRIPT_CODE("audio_alignment.py"),
        devices=lambda wc: session_devices(wc.session),
        reference_device=lambda wc: reference_device(wc.session),
        settings=SETTINGS.sync.to_mapping(),
    log:
        "logs/audio_alignment/{session}.log",
    benchmark:
        "benchmarks/audio_alignment/{session}.tsv"
    threads: 1
    resources:
        **sized("audio_alignment"),
    script:
        "../scripts/audio_alignment.py"


rule analysis_video:
    # The device's video decoded once, on the session clock, at the stages' common rate and a
    # working size: the frames, faces, head_motion and visual_features jobs read this stream.
    input:
        unpack(device_clock_inputs),
        video=lambda wc: device_media(wc.session, wc.device),
    output:
        video="results/sessions/{session}/analysis/{device}.mp4",
        index="results/sessions/{session}/analysis/{device}.parquet",
    params:
        code=SCRIPT_CODE("analysis_video.py"),
        settings=ANALYSIS_STREAM,
    log:
        "logs/analysis_video/{session}/{device}.log",
    benchmark:
        "benchmarks/analysis_video/{session}/{device}.tsv"
    threads: 2
    resources:
        **sized("analysis_video"),
    script:
        "../scripts/analysis_video.py"


rule frames:
    input:
        unpack(device_clock_inputs),
        unpack(video_inputs),
    output:
        "results/sessions/{session}/frames/{device}.parquet",
    params:
        code=SCRIPT_CODE("frames.py"),
        settings=SETTINGS.frames.to_mapping(),
    log:
        "logs/frames/{session}/{device}.log",
    benchmark:
        "benchmarks/frames/{session}/{device}.tsv"
    threads: 2
    resources:
        **sized("frames"),
    script:
        "../scripts/frames.py"

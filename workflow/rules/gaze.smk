# Gaze tracks, gaze targets, head motion and visual features on the session clock.
# One job per session and device, so a changed input reruns only its own jobs; the logic is in
# egoinstruct.gaze and egoinstruct.visual.
GAZE = SETTINGS.gaze
FEATURES = SETTINGS.features
HEAD_MOTION = SETTINGS.head_motion
GAZE_DEBUG = SETTINGS.gaze_debug

# Head cameras with a video (face detection, head motion and debug GIFs need frames).
head_video_devices = lambda s: [d for d in head_devices(s) if d in video_devices(s)]
feature_devices = lambda s: [d for d in video_devices(s) if device_role(s, d) in FEATURES.roles]
debug_sessions = lambda: [s for s in (GAZE_DEBUG.sessions or SESSIONS[:1]) if s in SESSIONS]
gaze_trajectory = lambda wc: device_trajectory(wc.session, wc.device) if HEAD_MOTION.method != "video" else []
# The inputs a head camera's camera model may come from (egoinstruct.gaze.stage.device_camera):
# the raw Aria VRS, a calibration row (JSON, or the VRS an MP4 was exported from), else
# gaze.camera from the config.
camera_inputs = lambda wc: {
    "calibration": device_input(wc.session, wc.device, "calibration") or [],
    "vrs": [r["path"] for r in device_rows(wc.session, wc.device) if r["kind"] == "aria_vrs"],
}


TARGETS.append(
    lambda: [
        path
        for session in SESSIONS
        for path in [
            *expand("results/sessions/{s}/gaze/{device}.parquet", s=session, device=gaze_devices(session)),
            *expand("results/sessions/{s}/gaze_windows/{device}.parquet", s=session, device=gaze_devices(session)),
            *expand("results/sessions/{s}/head_motion/{device}.parquet", s=session, device=head_video_devices(session)),
            *expand("results/sessions/{s}/visual/{device}.parquet", s=session, device=feature_devices(session)),
            *([f"results/sessions/{session}/gaze.png"] if gaze_devices(session) else []),
        ]
    ]
    + [
        f"results/sessions/{session}/gaze_debug/{device}.gif"
        for session in (debug_sessions() if GAZE_DEBUG.enabled else [])
        for device in gaze_devices(session)
        if device in video_devices(session)
    ]
)


rule faces:
    # Faces in a head camera's frames (the partner's face for gaze targets).
    input:
        unpack(device_clock_inputs),
        unpack(video_inputs),
    output:
        "results/sessions/{session}/faces/{device}.parquet",
    params:
        code=SCRIPT_CODE("faces.py"),
        settings=GAZE.faces.to_mapping(),
    log:
        "logs/faces/{session}/{device}.log",
    benchmark:
        "benchmarks/faces/{session}/{device}.tsv"
    threads: 1
    resources:
        **sized("faces"),
    script:
        "../scripts/faces.py"


rule gaze:
    input:
        unpack(device_clock_inputs),
        unpack(camera_inputs),
        csv=lambda wc: device_gaze_csv(wc.session, wc.device),
        probe=device_probe,
        # validation of the gaze CSV and calibration passed (the gaze stage never runs on a file it rejects)
        head_probe="results/sessions/{session}/gaze_probe/{device}.json",
        faces=lambda wc: (
            [f"results/sessions/{wc.session}/faces/{wc.device}.parquet"]
            if wc.device in video_devices(wc.session)
            else []
        ),
    output:
        gaze="results/sessions/{session}/gaze/{device}.parquet",
        windows="results/sessions/{session}/gaze_windows/{device}.parquet",
    params:
        code=SCRIPT_CODE("gaze.py"),
        settings=GAZE.to_mapping(),
        recordings_sheet=SETTINGS.recordings,
    log:
        "logs/gaze/{session}/{device}.log",
    benchmark:
        "benchmarks/gaze/{session}/{device}.tsv"
    threads: 1
    resources:
        **sized("gaze"),
    script:
        "../scripts/gaze.py"


rule head_motion:
    input:
        unpack(device_clock_inputs),
        unpack(camera_inputs),
        unpack(video_inputs),
        probe=device_probe,
        head_probe=lambda wc: (
            [f"results/sessions/{wc.session}/gaze_probe/{wc.device}.json"]
            if wc.device in head_input_devices(wc.session)
            else []
        ),
        trajectory=gaze_trajectory,
        # only to date the trajectory when the recording does not state its clock (gaze.clock_start)
        gaze_csv=lambda wc: [device_gaze_csv(wc.session, wc.device)] if gaze_trajectory(wc) else [],
    output:
        "results/sessions/{session}/head_motion/{device}.parquet",
    params:
        code=SCRIPT_CODE("head_motion.py"),
        settings=HEAD_MOTION.to_mapping(),
        clock_start=GAZE.clock_start,
        camera=GAZE.camera,
        recordings_sheet=SETTINGS.recordings,
    log:
        "logs/head_motion/{session}/{device}.log",
    benchmark:
        "benchmarks/head_motion/{session}/{device}.tsv"
    threads: 1
    resources:
        **sized("head_motion"),
    script:
        "../scripts/head_motion.py"


rule visual_features:
    input:
        unpack(device_clock_inputs),
        unpack(video_inputs),
    output:
        "results/sessions/{session}/visual/{device}.parquet",
    params:
        code=SCRIPT_CODE("visual_features.py"),
        settings=FEATURES.to_mapping(),
    log:
        "logs/visual_features/{session}/{device}.log",
    benchmark:
        "benchmarks/visual_features/{session}/{device}.tsv"
    # One thread: on a busy machine torch's second intra-op thread doubles the CPU time per frame
    # (spinning) for a third less wall time; many such jobs in parallel use the cores better.
    threads: 1
    resources:
        **sized("visual_features"),
    script:
        "../scripts/visual_features.py"


rule gaze_plot:
    input:
        gaze=lambda wc: expand(
            "results/sessions/{session}/gaze/{device}.parquet",
            session=wc.session,
            device=gaze_devices(wc.session),
        ),
        motion=lambda wc: expand(
            "results/sessions/{session}/head_motion/{device}.parquet",
            session=wc.session,
            device=[d for d in gaze_devices(wc.session) if d in head_video_devices(wc.session)],  # = motion_devices
        ),
    output:
        report(
            "results/sessions/{session}/gaze.png",
            caption="../report/gaze.rst",
            category="Gaze",
            subcategory="{session}",
        ),
    params:
        code=SCRIPT_CODE("gaze_plot.py"),
        devices=lambda wc: gaze_devices(wc.session),
        motion_devices=lambda wc: [d for d in gaze_devices(wc.session) if d in head_video_devices(wc.session)],
    log:
        "logs/gaze_plot/{session}.log",
    benchmark:
        "benchmarks/gaze_plot/{session}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/gaze_plot.py"


rule gaze_debug:
    # Only requested (rule all) when gaze_debug.enabled; for people who want to look.
    input:
        unpack(device_clock_inputs),
        video=lambda wc: device_media(wc.session, wc.device),  # the recording: drawn in its pixels
        gaze="results/sessions/{session}/gaze/{device}.parquet",
        faces="results/sessions/{session}/faces/{device}.parquet",
    output:
        "results/sessions/{session}/gaze_debug/{device}.gif",
    params:
        code=SCRIPT_CODE("gaze_debug.py"),
        settings=GAZE_DEBUG.to_mapping(),
    log:
        "logs/gaze_debug/{session}/{device}.log",
    benchmark:
        "benchmarks/gaze_debug/{session}/{device}.tsv"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
    script:
        "../scripts/gaze_debug.py"

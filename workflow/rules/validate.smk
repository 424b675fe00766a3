# Validate: probe every input and check each session's annotations. A device's media (probe_device)
# and a head camera's eye gaze and calibration (probe_head) are separate jobs, so a bad gaze file
# stops the gaze stages, not the device's audio, sync and frames.

TARGETS.append(
    lambda: [
        *expand("results/sessions/{session}/probe.json", session=SESSIONS),
        "results/data/inputs_overview.tsv",
    ]
)


rule probe_device:
    # The device's recording (any container; chapters joined) and a vrs_to_mp4 export's log.
    input:
        media=lambda wc: device_media(wc.session, wc.device),
        export_log=lambda wc: device_export_log(wc.session, wc.device),
    output:
        "results/sessions/{session}/probe/{device}.json",
    params:
        code=SCRIPT_CODE("probe_device.py"),
        rows=lambda wc: device_rows(wc.session, wc.device, kinds=[*MEDIA_KINDS, *MEDIA_OPTION_KINDS]),
        media=SETTINGS.media.to_mapping(),
        reference_role=SETTINGS.reference_role,
        recordings_sheet=SETTINGS.recordings,
    log:
        "logs/probe_device/{session}/{device}.log",
    benchmark:
        "benchmarks/probe_device/{session}/{device}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/probe_device.py"


rule probe_head:
    # A head camera's MPS folder (or eye-gaze CSV) and calibration: the gaze stage's own checks.
    input:
        lambda wc: device_head_inputs(wc.session, wc.device),
    output:
        "results/sessions/{session}/gaze_probe/{device}.json",
    params:
        code=SCRIPT_CODE("probe_head.py"),
        rows=lambda wc: device_rows(wc.session, wc.device, kinds=HEAD_INPUT_KINDS),
        gaze=SETTINGS.gaze.to_mapping(),
        recordings_sheet=SETTINGS.recordings,
    log:
        "logs/probe_head/{session}/{device}.log",
    benchmark:
        "benchmarks/probe_head/{session}/{device}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/probe_head.py"


rule validate_session:
    input:
        probes=lambda wc: expand(
            "results/sessions/{session}/probe/{device}.json",
            session=wc.session,
            device=session_devices(wc.session),
        ),
        head_probes=lambda wc: expand(
            "results/sessions/{session}/gaze_probe/{device}.json",
            session=wc.session,
            device=head_input_devices(wc.session),
        ),
        annotations=lambda wc: session_annotations(wc.session),
        labels=lambda wc: session_label_files(wc.session),
    output:
        probe="results/sessions/{session}/probe.json",
        # the checked segments of every annotation file: what assembly and evaluation read
        annotations="results/sessions/{session}/annotations.parquet",
    params:
        code=SCRIPT_CODE("validate_session.py"),
        procedure=lambda wc: PROCEDURE_OF[wc.session],
        # per annotation file, the tasks it labels (the sheet's tasks column), and all of them
        annotation_tasks=lambda wc: session_annotation_tasks(wc.session),
        session_tasks=lambda wc: SESSION_TASKS.get(wc.session, []),
        reference_role=SETTINGS.reference_role,
        checks=SETTINGS.annotation_checks.to_mapping(),
    log:
        "logs/validate_session/{session}.log",
    benchmark:
        "benchmarks/validate_session/{session}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/validate_session.py"


rule inputs_overview:
    input:
        expand("results/sessions/{session}/probe.json", session=SESSIONS),
    output:
        report(
            "results/data/inputs_overview.tsv",
            caption="../report/inputs_overview.rst",
            category="Data",
        ),
    params:
        code=SCRIPT_CODE("inputs_overview.py"),
    log:
        "logs/inputs_overview.log",
    benchmark:
        "benchmarks/inputs_overview.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../scripts/inputs_overview.py"

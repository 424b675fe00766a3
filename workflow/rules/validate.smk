# Validate: probe every input (one job per device) and check each session's annotations.

TARGETS.append(
    lambda: [
        *expand("results/sessions/{session}/probe.json", session=SESSIONS),
        "results/data/inputs_overview.tsv",
    ]
)


rule probe_device:
    input:
        lambda wc: device_paths(wc.session, wc.device),
    output:
        "results/sessions/{session}/probe/{device}.json",
    params:
        code=SCRIPT_CODE("probe_device.py"),
        rows=lambda wc: device_rows(wc.session, wc.device),
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


rule validate_session:
    input:
        probes=lambda wc: expand(
            "results/sessions/{session}/probe/{device}.json",
            session=wc.session,
            device=session_devices(wc.session),
        ),
        annotations=lambda wc: session_annotations(wc.session),
        labels=lambda wc: session_label_files(wc.session),
    output:
        "results/sessions/{session}/probe.json",
    params:
        code=SCRIPT_CODE("validate_session.py"),
        procedure=lambda wc: PROCEDURE_OF[wc.session],
        labels_dir=SETTINGS.labels_dir,
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

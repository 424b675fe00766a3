# Validate: probe every input of a session and check its annotations -> probe.json.


rule validate_session:
    input:
        unpack(session_inputs),
    output:
        "results/sessions/{session}/probe.json",
    params:
        recordings=lambda wc: session_rows(wc.session),
        annotations=lambda wc: session_annotation_rows(wc.session),
        recordings_sheet=config["recordings"],
        labels_dir=config["labels_dir"],
        reference_role=config["reference_role"],
        checks=config["annotation_checks"],
    log:
        "logs/validate/{session}.log",
    benchmark:
        "benchmarks/validate/{session}.tsv"
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
    log:
        "logs/validate/inputs_overview.log",
    benchmark:
        "benchmarks/validate/inputs_overview.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../scripts/inputs_overview.py"

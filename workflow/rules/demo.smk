# Synthetic demo sessions (config: demo). Only defined when demo.enabled, so with real data a
# missing input is an error, never silently replaced by synthetic files.
from egoinstruct.demo import procedure_for, session_files

if DEMO.enabled:

    rule demo_session:
        output:
            list(session_files("{session}", DEMO_ROOT, with_eaf=True).values()),
        params:
            code=SCRIPT_CODE("generate_demo_session.py"),
            settings=DEMO.to_mapping(),
            labels_dir=SETTINGS.labels_dir,
            procedure=lambda wc: session_procedure(wc.session)
            or procedure_for(SESSIONS.index(wc.session)),
            # the annotation files label the tasks the annotation sheet names for the session
            tasks=lambda wc: list(SESSION_TASKS.get(wc.session, TASK_NAMES)),
        log:
            "logs/demo/{session}.log",
        benchmark:
            "benchmarks/demo/{session}.tsv"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=20,
        script:
            "../scripts/generate_demo_session.py"

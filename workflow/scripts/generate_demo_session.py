"""Rule demo_session: write one synthetic demo session (videos, gaze CSVs, annotations, truth)."""

from pathlib import Path

from egoinstruct.demo import DemoSettings, generate_session
from egoinstruct.logutil import rule_logging

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    settings = DemoSettings.from_mapping(sm.params.settings)
    log.info("generating demo session %s (%s, %s)", sm.wildcards.session, sm.params.procedure, settings)
    # Outputs are <root>/<session>/...: the demo root is the parent of the session folder.
    session_dir = next(p for p in Path(sm.output[0]).parents if p.name == sm.wildcards.session)
    generate_session(sm.wildcards.session, sm.params.procedure, session_dir.parent, settings, with_eaf=True,
                     labels_dir=sm.params.labels_dir, tasks=sm.params.tasks)

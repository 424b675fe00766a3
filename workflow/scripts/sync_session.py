"""Rule sync_session: the session's clocks in one file, and a diagnostic plot of the peaks."""

import json

from egoinstruct.io import atomic_path, write_json
from egoinstruct.logutil import rule_logging
from egoinstruct.sync import plot_sync, session_sync_summary

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]):
    devices = [json.loads(open(path).read()) for path in sm.input.devices]
    reference = json.loads(open(sm.input.reference_probe).read())
    summary = session_sync_summary(sm.wildcards.session, reference["device"], reference["duration_s"], devices)
    with atomic_path(sm.output.plot) as tmp:
        plot_sync(devices, str(tmp), f"session {sm.wildcards.session}: audio cross-correlation")
    write_json(sm.output.sync, summary)

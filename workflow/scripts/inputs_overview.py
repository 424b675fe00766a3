"""Rule inputs_overview: one table of every session's devices and streams (for the report)."""

import json

from egoinstruct.io import atomic_path
from egoinstruct.logutil import rule_logging
from egoinstruct.validate import inputs_overview

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]):
    probes = [json.loads(open(path).read()) for path in sm.input]
    with atomic_path(sm.output[0]) as tmp:
        inputs_overview(probes).to_csv(tmp, sep="\t", index=False)

"""Rule mllm_overview: one row per task and model — inputs shown, calls, answers and score."""

import json

from egoinstruct.io import atomic_path
from egoinstruct.logutil import rule_logging
from egoinstruct.mllm.usage import usage_table

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]):
    table = usage_table([json.loads(open(path).read()) for path in sm.input])
    with atomic_path(sm.output[0]) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.4g")

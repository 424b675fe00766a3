"""Rule mllm_summary: an MLLM run's statistics plus a quick score against the annotations."""

import json

from egoinstruct.io import write_json
from egoinstruct.logutil import rule_logging
from egoinstruct.mllm.scoring import score_run

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    run = json.loads(open(sm.input.run).read())
    predictions = dict(zip(sm.params.sessions, sm.input.predictions, strict=True))
    score = score_run(sm.wildcards.task, predictions, sm.params.annotations, eaf_tiers=dict(sm.params.eaf_tiers))
    write_json(sm.output[0], {"run": run, "score": score})
    log.info("%s / %s: accuracy %s, macro-F1 %s over %d frames", sm.wildcards.task, sm.wildcards.model,
             score.get("accuracy"), score.get("macro_f1"), score["frames_scored"])

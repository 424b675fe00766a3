"""Rule mllm_summary: an MLLM run's statistics and its score on the evaluation's grid."""

import json

from egoinstruct.annotations import read_validated
from egoinstruct.io import write_json
from egoinstruct.labels import labels_folder
from egoinstruct.logutil import rule_logging
from egoinstruct.mllm.scoring import score_run
from egoinstruct.settings.evaluation import EvaluationSettings

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    run = json.loads(open(sm.input.run).read())
    score = score_run(
        task=sm.wildcards.task,
        method=f"mllm-{sm.wildcards.model}",
        predictions=dict(zip(sm.params.sessions, sm.input.predictions, strict=True)),
        annotations={s: (procedure, read_validated(path))
                     for (s, procedure), path in zip(sm.params.annotated.items(), sm.input.annotations, strict=True)},
        settings=EvaluationSettings.from_mapping(sm.params.evaluation),
        labels_dir=labels_folder(sm.input.labels),
    )
    write_json(sm.output[0], {"run": run, "score": score})
    log.info("%s / %s: accuracy %s, macro-F1 %s over %d frames", sm.wildcards.task, sm.wildcards.model,
             score.get("accuracy"), score.get("macro_f1"), score["frames_scored"])

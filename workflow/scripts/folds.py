"""Rule folds: a task's cross-validation folds by session -> results/models/{task}/folds.json."""

from egoinstruct.folds import folds_document
from egoinstruct.io import write_json
from egoinstruct.logutil import rule_logging

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    document = folds_document(sm.params.procedures, sm.params.k, sm.params.seed, sm.params.fixed)
    # the workflow planned its jobs with the same assignment; a mismatch would mean a bug
    if document["session_fold"] != {s: int(f) for s, f in sm.params.assignment.items()}:
        raise RuntimeError("folds.json differs from the assignment the workflow planned with")
    write_json(sm.output[0], {"task": sm.wildcards.task, **document})
    for fold, members in document["folds"].items():
        log.info("%s fold %s: test %s", sm.wildcards.task, fold, ", ".join(members["test"]))

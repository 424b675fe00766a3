"""Rule evaluate: every registered method of one task scored on one grid per session."""

from egoinstruct.annotations import read_validated
from egoinstruct.evaluation import evaluate_task, load_truth, methods_from_registry, write_outputs
from egoinstruct.labels import labels_folder
from egoinstruct.logutil import rule_logging
from egoinstruct.settings.evaluation import EvaluationSettings

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    task = sm.wildcards.task
    settings = EvaluationSettings.from_mapping(sm.params.settings)
    # the validated annotation table of each session, in the order of params.annotated
    annotations = {s: (procedure, read_validated(path))
                   for (s, procedure), path in zip(sm.params.annotated.items(), sm.input.annotations, strict=True)}
    truth = load_truth(task, annotations, settings.rate_hz)
    methods = methods_from_registry(task, sm.params.methods, list(sm.input.predictions))
    log.info("%s: %d method(s), %d annotated session(s), grid %.3g Hz", task, len(methods), len(truth),
             settings.rate_hz)
    evaluation = evaluate_task(task, methods, truth, labels_folder(sm.input.labels), settings)
    write_outputs(evaluation, dict(sm.output.items()))
    primary = settings.primary_metric[task]
    for name, result in evaluation.methods.items():
        value, std = result.headline[primary]
        log.info("%s / %s: %s %.1f (± %.1f), %d session(s), %s", task, name, primary, value, std,
                 len(result.sessions), result.note)
    for note in evaluation.notes:
        log.warning(note)

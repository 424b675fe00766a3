"""Rule validate_session: combine a session's probes, check its annotations -> probe.json and the
validated annotations (annotations.parquet) every later stage reads."""

import json

from egoinstruct.annotations import write_validated
from egoinstruct.io import write_json
from egoinstruct.labels import labels_folder
from egoinstruct.logutil import rule_logging
from egoinstruct.settings.validation import AnnotationChecks
from egoinstruct.validate import validate_session

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    probe, segments = validate_session(
        session=sm.wildcards.session,
        device_probes=[json.loads(open(path).read()) for path in sm.input.probes],
        head_probes=[json.loads(open(path).read()) for path in sm.input.head_probes],
        annotation_paths=list(sm.input.annotations),
        annotation_tasks=[list(names) for names in sm.params.annotation_tasks],
        procedure=sm.params.procedure,
        labels_dir=labels_folder(sm.input.labels),
        reference_role=sm.params.reference_role,
        checks=AnnotationChecks.from_mapping(sm.params.checks),
    )
    for warning in probe["warnings"]:
        log.warning(warning)
    write_validated(segments, sm.output.annotations, {"session": sm.wildcards.session,
                                                      "procedure": sm.params.procedure or "",
                                                      "tasks": ",".join(sm.params.session_tasks)})
    write_json(sm.output.probe, probe)
    log.info("%s: %d devices, reference %s, %.1f s, %d annotated segments", probe["session"], len(probe["devices"]),
             probe["reference_device"], probe["session_duration_s"], len(segments))

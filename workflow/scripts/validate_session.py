"""Rule validate_session: combine a session's device probes, check its annotations -> probe.json."""

import json

from egoinstruct.io import write_json
from egoinstruct.logutil import rule_logging
from egoinstruct.settings.validation import AnnotationChecks
from egoinstruct.validate import validate_session

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    probe = validate_session(
        session=sm.wildcards.session,
        device_probes=[json.loads(open(path).read()) for path in sm.input.probes],
        annotation_paths=list(sm.input.annotations),
        procedure=sm.params.procedure,
        labels_dir=sm.params.labels_dir,
        reference_role=sm.params.reference_role,
        checks=AnnotationChecks.from_mapping(sm.params.checks),
    )
    for warning in probe["warnings"]:
        log.warning(warning)
    write_json(sm.output[0], probe)
    log.info("%s: %d devices, reference %s, %.1f s", probe["session"], len(probe["devices"]),
             probe["reference_device"], probe["session_duration_s"])

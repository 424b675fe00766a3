"""Rule validate_session: combine a session's device probes, check its annotations -> probe.json."""

import json

import pandas as pd

from egoinstruct.io import write_json
from egoinstruct.logutil import rule_logging
from egoinstruct.validate import validate_session

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    checks = sm.params.checks
    probe = validate_session(
        session=sm.wildcards.session,
        device_probes=[json.loads(open(path).read()) for path in sm.input.probes],
        annotation_rows=pd.DataFrame.from_records(
            sm.params.annotations, columns=["session", "procedure", "path", "line"]
        ),
        labels_dir=sm.params.labels_dir,
        reference_role=sm.params.reference_role,
        eaf_tiers=checks["eaf_tiers"],
        allow_gaps=checks["allow_gaps"],
        end_tolerance_s=checks["end_tolerance_s"],
    )
    for warning in probe["warnings"]:
        log.warning(warning)
    write_json(sm.output[0], probe)
    log.info("%s: %d devices, reference %s, %.1f s", probe["session"], len(probe["devices"]),
             probe["reference_device"], probe["session_duration_s"])

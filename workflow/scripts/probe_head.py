"""Rule probe_head: check a head camera's eye-gaze CSV and calibration -> gaze_probe/{device}.json."""

import pandas as pd

from egoinstruct.io import write_json
from egoinstruct.logutil import rule_logging
from egoinstruct.settings.gaze import GazeSettings
from egoinstruct.validate import probe_head_inputs

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    probe = probe_head_inputs(pd.DataFrame.from_records(sm.params.rows), GazeSettings.from_mapping(sm.params.gaze),
                              sm.params.recordings_sheet)
    for kind, facts in probe["inputs"].items():
        log.info("%s: %s", kind, {k: v for k, v in facts.items() if k in ("layout", "n_samples", "rate_hz", "model")})
    write_json(sm.output[0], probe)

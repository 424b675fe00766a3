"""Rule probe_device: probe one device's recording (any container, chapters joined) -> probe/{device}.json."""

import pandas as pd

from egoinstruct.io import write_json
from egoinstruct.logutil import rule_logging
from egoinstruct.settings.ingest import MediaSettings
from egoinstruct.validate import probe_device

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    probe = probe_device(pd.DataFrame.from_records(sm.params.rows), sm.params.recordings_sheet,
                         media=MediaSettings.from_mapping(sm.params.media), reference_role=sm.params.reference_role)
    for warning in probe["warnings"]:
        log.warning(warning)
    write_json(sm.output[0], probe)

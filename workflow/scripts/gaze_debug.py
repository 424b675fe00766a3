"""Rule gaze_debug: a GIF of a head camera's frames with the gaze point, face box and target."""

import json

from egoinstruct.logutil import rule_logging
from egoinstruct.tables import read_table
from egoinstruct.visual.debug import write_debug_gif

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    clock = json.loads(open(sm.input.sync).read())
    duration = json.loads(open(sm.input.reference_probe).read())["duration_s"]
    s = sm.params.settings
    n = write_debug_gif(
        sm.input.video, sm.output[0], read_table(sm.input.gaze, "gaze").to_pandas(),
        read_table(sm.input.faces, "faces").to_pandas(), clock["offset_s"], duration,
        start_s=s["start_s"], duration_s=s["duration_s"], fps=s["fps"], width=s["width"],
        drift_ppm=clock["drift_ppm"],
    )
    log.info("%s: %d frames", sm.output[0], n)

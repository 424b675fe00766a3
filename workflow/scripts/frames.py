"""Rule frames: a device's video as JPEG frames at a fixed rate on the session clock (Parquet)."""

import json

from egoinstruct.frames import FrameSettings, extract_frames
from egoinstruct.logutil import rule_logging

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]):
    clock = json.loads(open(sm.input.sync).read())
    duration = json.loads(open(sm.input.reference_probe).read())["duration_s"]
    extract_frames(
        sm.input.video,
        sm.output[0],
        offset_s=clock["offset_s"],
        duration_s=duration,
        settings=FrameSettings(**sm.params.settings),
        drift_ppm=clock["drift_ppm"],
        threads=sm.threads,
        metadata={"session": sm.wildcards.session, "device": sm.wildcards.device},
    )

"""Rule frames: a device's video as JPEG frames at a fixed rate on the session clock (Parquet)."""

from egoinstruct.clock import DeviceClock
from egoinstruct.frames import extract_frames
from egoinstruct.logutil import rule_logging
from egoinstruct.media.reader import input_paths
from egoinstruct.settings.ingest import FrameSettings

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]):
    extract_frames(
        input_paths(sm.input.video),
        sm.output[0],
        clock=DeviceClock.read(sm.input.sync, sm.wildcards.device),
        settings=FrameSettings.from_mapping(sm.params.settings),
        threads=sm.threads,
        metadata={"session": sm.wildcards.session, "device": sm.wildcards.device},
    )

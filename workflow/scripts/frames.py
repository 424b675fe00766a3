"""Rule frames: a device's video as JPEG frames at a fixed rate on the session clock (Parquet),
cut from the device's analysis stream (or its recording, with analysis.enabled: false)."""

from egoinstruct.analysis import open_video_input
from egoinstruct.frames import extract_frames
from egoinstruct.logutil import rule_logging
from egoinstruct.media.reader import input_paths
from egoinstruct.settings.ingest import FrameSettings

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]):
    video = open_video_input(input_paths(sm.input.video), sm.input.sync, sm.wildcards.device,
                             getattr(sm.input, "video_index", None))
    extract_frames(
        video.reader,
        sm.output[0],
        clock=video.clock,
        settings=FrameSettings.from_mapping(sm.params.settings),
        threads=sm.threads,
        metadata={**video.metadata(), "session": sm.wildcards.session, "device": sm.wildcards.device},
    )

"""Rule analysis_video: a device's video decoded once into its session-clock analysis stream
(H.264 MP4 + Parquet index) for the frames, faces, head_motion and visual_features rules."""

from egoinstruct.analysis import write_analysis_stream
from egoinstruct.clock import DeviceClock
from egoinstruct.logutil import rule_logging
from egoinstruct.media.reader import input_paths

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]):
    stream = sm.params.settings
    write_analysis_stream(
        input_paths(sm.input.video),
        sm.output.video,
        sm.output.index,
        clock=DeviceClock.read(sm.input.sync, sm.wildcards.device),
        fps=stream["fps"],
        width=stream["width"],
        crf=stream["crf"],
        preset=stream["preset"],
        threads=1,  # one decoding thread: the job's second core is the encoder's (an ffmpeg process)
        metadata={"session": sm.wildcards.session, "device": sm.wildcards.device},
    )

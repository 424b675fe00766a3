"""Rule visual_features: per-frame embeddings of a device's video from a pretrained backbone,
on the session clock -> visual/{device}.parquet (from the device's analysis stream, or its
recording with analysis.enabled: false)."""

from egoinstruct.analysis import open_video_input
from egoinstruct.logutil import rule_logging
from egoinstruct.media.reader import input_paths
from egoinstruct.settings.visual import FeatureSettings
from egoinstruct.visual.features import extract_features

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]):
    video = open_video_input(input_paths(sm.input.video), sm.input.sync, sm.wildcards.device,
                             getattr(sm.input, "video_index", None))
    extract_features(
        video.reader,
        sm.output[0],
        clock=video.clock,
        settings=FeatureSettings.from_mapping(sm.params.settings),
        threads=sm.threads,
        metadata={**video.metadata(), "session": sm.wildcards.session, "device": sm.wildcards.device},
    )

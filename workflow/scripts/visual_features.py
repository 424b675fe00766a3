"""Rule visual_features: per-frame embeddings of a device's video from a pretrained backbone,
on the session clock -> visual/{device}.parquet."""

from egoinstruct.clock import DeviceClock
from egoinstruct.logutil import rule_logging
from egoinstruct.media.reader import input_paths
from egoinstruct.settings.visual import FeatureSettings
from egoinstruct.visual.features import extract_features

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]):
    extract_features(
        input_paths(sm.input.video),
        sm.output[0],
        clock=DeviceClock.read(sm.input.sync, sm.wildcards.device),
        settings=FeatureSettings.from_mapping(sm.params.settings),
        threads=sm.threads,
        metadata={"session": sm.wildcards.session, "device": sm.wildcards.device},
    )

"""Rule visual_features: per-frame embeddings of a device's video from a pretrained backbone,
on the session clock -> visual/{device}.parquet."""

import json

from egoinstruct.logutil import rule_logging
from egoinstruct.visual.features import FeatureSettings, extract_features

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]):
    clock = json.loads(open(sm.input.sync).read())
    duration = json.loads(open(sm.input.reference_probe).read())["duration_s"]
    settings = FeatureSettings(**{k: v for k, v in sm.params.settings.items() if k != "roles"})
    extract_features(
        sm.input.video,
        sm.output[0],
        offset_s=clock["offset_s"],
        duration_s=duration,
        settings=settings,
        drift_ppm=clock["drift_ppm"],
        threads=sm.threads,
        metadata={"session": sm.wildcards.session, "device": sm.wildcards.device},
    )

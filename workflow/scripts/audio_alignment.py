"""Rule audio_alignment: residual lag of each session-aligned track against the reference."""

from egoinstruct.io import write_json
from egoinstruct.logutil import rule_logging
from egoinstruct.media.audio import read_wav
from egoinstruct.settings.ingest import SyncSettings
from egoinstruct.sync import alignment_report

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    tracks = {device: read_wav(path)[0] for device, path in zip(sm.params.devices, sm.input, strict=True)}
    report = alignment_report(sm.params.reference_device, tracks, 16000, SyncSettings.from_mapping(sm.params.settings))
    for device, entry in report["devices"].items():
        log.info("%s: residual lag %s", device, entry["residual_lag_s"])
    write_json(sm.output[0], report)

"""Rule sync_session: the session clock in one file (every device's clock, checked pair by pair
against the others), and a diagnostic plot of the peaks -> sync.json, sync.png."""

import json

from egoinstruct.io import atomic_path, write_json
from egoinstruct.logutil import rule_logging
from egoinstruct.media.audio import read_wav
from egoinstruct.settings.ingest import SyncSettings
from egoinstruct.sync import pair_closure, plot_sync, session_sync_summary

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    settings = SyncSettings.from_mapping(sm.params.settings)
    devices = [json.loads(open(path).read()) for path in sm.input.devices]
    reference = json.loads(open(sm.input.reference_probe).read())
    tracks = {device: read_wav(path)[0] for device, path in zip(sm.params.devices, sm.input.audio, strict=True)}
    pairs = pair_closure(tracks, {d["device"]: d for d in devices}, 16000, settings)
    for pair in pairs:
        log.info("%s vs %s: %+.4f s directly, %+.4f s through the reference (PSR %.1f)", *pair["devices"],
                 pair["offset_s"], pair["expected_s"], pair["confidence_psr"])
    summary = session_sync_summary(sm.wildcards.session, reference["device"], reference["duration_s"], devices, pairs,
                                   settings, where=f"{sm.params.recordings_sheet}: session {sm.wildcards.session}")
    with atomic_path(sm.output.plot) as tmp:
        plot_sync(devices, str(tmp), f"session {sm.wildcards.session}: audio cross-correlation")
    write_json(sm.output.sync, summary)

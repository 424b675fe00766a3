"""Rule sync_device: one device's clock relative to the reference device -> sync/{device}.json."""

from egoinstruct.io import write_json
from egoinstruct.logutil import rule_logging
from egoinstruct.media.audio import read_wav
from egoinstruct.settings.ingest import SyncSettings
from egoinstruct.sync import sync_device

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    reference, rate = read_wav(sm.input.reference)
    device, device_rate = read_wav(sm.input.device)
    assert rate == device_rate, "device_audio writes every track at the same rate"
    result = sync_device(
        device=sm.wildcards.device,
        role=sm.params.role,
        reference_device=sm.params.reference_device,
        reference_audio=reference if len(reference) else None,
        device_audio=device if len(device) else None,
        rate_hz=rate,
        sheet_offset_s=sm.params.sheet_offset_s,
        settings=SyncSettings.from_mapping(sm.params.settings),
        where=f"{sm.params.recordings_sheet}: session {sm.wildcards.session}",
    )
    if result.low_confidence:
        log.warning(result.message)
    log.info("%s: %s offset %+.4f s, drift %+.2f ppm, PSR %s", result.device, result.method,
             result.offset_s, result.drift_ppm, result.confidence_psr)
    write_json(sm.output[0], result.to_dict())

"""Rule session_audio: a device's audio on the session clock (sample 0 = t 0), 16 kHz mono."""

import json

from egoinstruct.clock import DeviceClock
from egoinstruct.io import write_json
from egoinstruct.logutil import rule_logging
from egoinstruct.media.audio import place_on_session_clock, read_wav, write_wav

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    samples, rate = read_wav(sm.input.wav)
    clock = DeviceClock.read(sm.input.sync, sm.wildcards.device)
    device_meta = json.loads(open(sm.input.meta).read())
    sync_method = json.loads(open(sm.input.sync).read())["devices"][clock.device]["method"]
    write_wav(sm.output.wav, place_on_session_clock(samples, rate, clock), rate)
    write_json(sm.output.meta, {
        **device_meta,
        "session_duration_s": clock.session_duration_s,
        "offset_s": clock.offset_s,
        "drift_ppm": clock.drift_ppm,
        "sync_method": sync_method,
    })
    log.info("%s: %.1f s on the session clock (offset %+.4f s)", clock.device, clock.session_duration_s,
             clock.offset_s)

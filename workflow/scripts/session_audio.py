"""Rule session_audio: a device's audio on the session clock (sample 0 = t 0), 16 kHz mono."""

import json

from egoinstruct.io import write_json
from egoinstruct.logutil import rule_logging
from egoinstruct.media.audio import place_on_session_clock, read_wav, write_wav

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    samples, rate = read_wav(sm.input.wav)
    clock = json.loads(open(sm.input.sync).read())
    device_meta = json.loads(open(sm.input.meta).read())
    duration = json.loads(open(sm.input.reference_probe).read())["duration_s"]
    aligned = place_on_session_clock(samples, rate, clock["offset_s"], duration, clock["drift_ppm"])
    write_wav(sm.output.wav, aligned, rate)
    write_json(sm.output.meta, {
        **device_meta,
        "session_duration_s": duration,
        "offset_s": clock["offset_s"],
        "drift_ppm": clock["drift_ppm"],
        "sync_method": clock["method"],
    })
    log.info("%s: %.1f s on the session clock (offset %+.4f s)", sm.wildcards.device, duration, clock["offset_s"])

"""Rule device_audio: a device's audio as 16 kHz mono WAV on its own clock (+ what it was)."""

import numpy as np

from egoinstruct.io import write_json
from egoinstruct.logutil import rule_logging
from egoinstruct.media.audio import SAMPLE_RATE_HZ, decode_audio, write_wav

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    decoded = decode_audio(sm.input.media, SAMPLE_RATE_HZ)
    if decoded is None:
        log.warning("%s has no audio stream; writing an empty track", sm.input.media)
        write_wav(sm.output.wav, np.zeros(0, np.float32))
        meta = {"source": sm.input.media, "has_audio": False}
    else:
        write_wav(sm.output.wav, decoded.samples)
        meta = {
            "source": sm.input.media,
            "has_audio": True,
            "sample_rate_hz": decoded.sample_rate_hz,
            "duration_s": len(decoded.samples) / decoded.sample_rate_hz,
            "original_rate_hz": decoded.original_rate_hz,
            "original_channels": decoded.original_channels,
            "original_layout": decoded.original_layout,
            "original_codec": decoded.original_codec,
            "audio_start_s": decoded.audio_start_s,
        }
        log.info("%s: %.1f s of audio (%s, %d Hz)", sm.input.media, meta["duration_s"],
                 decoded.original_layout, decoded.original_rate_hz)
    write_json(sm.output.meta, meta)

"""Rule device_audio: a device's audio as 16 kHz mono WAV on its own clock (+ what it was)."""

import numpy as np

from egoinstruct.io import write_json
from egoinstruct.logutil import rule_logging
from egoinstruct.media.audio import SAMPLE_RATE_HZ, write_wav
from egoinstruct.media.reader import input_paths, open_recording
from egoinstruct.settings.ingest import MediaSettings

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    export_log = input_paths(sm.input.export_log)
    reader = open_recording(input_paths(sm.input.media), export_log=export_log[0] if export_log else None,
                            vrs_channels=MediaSettings.from_mapping(sm.params.media).aria_mic_channels.to_mapping())
    decoded = reader.audio(SAMPLE_RATE_HZ)
    source = ", ".join(map(str, reader.paths))
    if decoded is None:
        log.warning("%s has no audio stream; writing an empty track", source)
        write_wav(sm.output.wav, np.zeros(0, np.float32))
        meta = {"source": source, "has_audio": False}
    else:
        write_wav(sm.output.wav, decoded.samples)
        meta = {
            "source": source,
            "has_audio": True,
            "sample_rate_hz": decoded.sample_rate_hz,
            "duration_s": len(decoded.samples) / decoded.sample_rate_hz,
            "original_rate_hz": decoded.original_rate_hz,
            "original_channels": decoded.original_channels,
            "original_layout": decoded.original_layout,
            "original_codec": decoded.original_codec,
            "audio_start_s": decoded.audio_start_s,
            "channels_used": list(decoded.channels_used) if decoded.channels_used is not None else None,
        }
        log.info("%s: %.1f s of audio (%s, %d Hz)", source, meta["duration_s"],
                 decoded.original_layout, decoded.original_rate_hz)
    write_json(sm.output.meta, meta)

"""Rule egemaps: openSMILE eGeMAPSv02 low-level descriptors per role (100 Hz), when enabled."""

import json

from egoinstruct.logutil import rule_logging
from egoinstruct.speech.io import load_session_audio, write_table
from egoinstruct.speech.prosody import egemaps_tracks, prosody_devices

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    session = sm.wildcards.session
    audio = load_session_audio(session, dict(zip(sm.params.devices, sm.input.wavs, strict=True)),
                               sm.params.roles, sm.params.reference)
    devices = {role: d for role, d in prosody_devices(audio).items() if role != "unknown"}
    table = egemaps_tracks({role: audio.tracks[d] for role, d in devices.items()}, audio.duration_s)
    write_table(sm.output[0], table, "egemaps", {"session": session, "feature_set": "eGeMAPSv02",
                                                "devices": json.dumps(devices)})
    log.info("%s: eGeMAPS LLDs from %s", session, devices)

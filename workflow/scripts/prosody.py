"""Rule prosody: per role a 100 Hz track of F0, intensity and voicing; per utterance features;
and the session's speech plot (role timeline above F0)."""

import json

import pandas as pd

from egoinstruct.io import atomic_path
from egoinstruct.logutil import rule_logging
from egoinstruct.settings.speech import ProsodySettings
from egoinstruct.speech.io import load_session_audio, write_table
from egoinstruct.speech.prosody import plot_speech, session_prosody
from egoinstruct.tables import read_table

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    session = sm.wildcards.session
    settings = ProsodySettings.from_mapping(sm.params.settings)
    audio = load_session_audio(session, dict(zip(sm.params.devices, sm.input.wavs, strict=True)),
                               sm.params.roles, sm.params.reference)
    transcript = read_table(sm.input.transcript, "transcript").to_pandas()
    turns = read_table(sm.input.turns, "speaker_turns").to_pandas()
    tracks, utterances, devices = session_prosody(audio, transcript, turns, settings)
    meta = {"session": session, "rate_hz": 100, "devices": json.dumps(devices),
            "pitch_floor_hz": settings.pitch_floor_hz, "pitch_ceiling_hz": settings.pitch_ceiling_hz}
    write_table(sm.output.prosody, tracks, "prosody", meta)
    write_table(sm.output.utterances, utterances, "prosody_utterances", meta)
    with atomic_path(sm.output.plot) as tmp:
        plot_speech(str(tmp), turns, transcript, tracks.to_pandas() if tracks.num_rows else pd.DataFrame(
            {"t": [], "role": [], "f0_hz": []}), f"session {session}")
    log.info("%s: prosody from %s; %d utterances", session, devices, utterances.num_rows)

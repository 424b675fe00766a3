"""Rule transcribe: a session's transcript with speakers and roles (whisperx; egoinstruct.speech).

Reads every device's session-aligned WAV, writes transcript.parquet (one row per utterance),
speaker_turns.parquet (diarization with roles) and transcript.json (models, methods used and
why, share of words without timestamps, roles and their evidence, timings).
"""

import torch

from egoinstruct.io import write_json
from egoinstruct.logutil import rule_logging
from egoinstruct.settings.speech import SpeechSettings
from egoinstruct.speech.io import load_session_audio, write_table
from egoinstruct.speech.session import transcribe_session

sm = snakemake  # noqa: F821 - injected by Snakemake

with rule_logging(sm.log[0]) as log:
    torch.set_num_threads(sm.threads)  # VAD, embeddings and pyannote; CTranslate2 gets threads too
    session = sm.wildcards.session
    settings = SpeechSettings.from_mapping(sm.params.settings)
    audio = load_session_audio(session, dict(zip(sm.params.devices, sm.input.wavs, strict=True)),
                               sm.params.roles, sm.params.reference)
    result = transcribe_session(audio, settings, threads=sm.threads)
    q = result.quality
    meta = {
        "session": session,
        "source": settings.source,
        "asr_model": q["asr_model"],
        "language": q["language"],
        "alignment": q["alignment"]["method"],
        "diarization": q["diarization"]["method"],
        "transcribed_devices": ",".join(q["transcribed_devices"]),
    }
    write_table(sm.output.transcript, result.transcript, "transcript", meta)
    write_table(sm.output.turns, result.turns, "speaker_turns", meta)
    write_json(sm.output.quality, {**q, "settings": settings.to_mapping()})
    log.info("%s: %d utterances, %d words, %d speakers, alignment %s, diarization %s, RTF %.3f",
             session, q["n_utterances"], q["n_words"], q["diarization"]["n_speakers"],
             q["alignment"]["method"], q["diarization"]["method"], q["rtf"])

"""Speech: who said what, when, and how — transcripts with speakers and roles, and prosody.

Modules, in the order the stage uses them:

* :mod:`~egoinstruct.speech.models`: where models come from (local directory, package, cache,
  hub) and whether a hub-only model can be had *now*, without waiting on a network timeout;
* :mod:`~egoinstruct.speech.vad`: speech regions (silero-vad, which ships its model);
* :mod:`~egoinstruct.speech.asr`: whisperx transcription, wav2vec2 alignment or Whisper's own
  word timestamps;
* :mod:`~egoinstruct.speech.level`: who speaks from the two wearers' level difference, frame by
  frame (turns with roles; the default when both wearers' tracks have audio);
* :mod:`~egoinstruct.speech.diarize`: pyannote through whisperx, or the offline diarizer
  (silero-vad + resemblyzer embeddings + clustering), for the other sessions;
* :mod:`~egoinstruct.speech.roles`: speaker → instructor / learner / unknown (after those two);
* :mod:`~egoinstruct.speech.transcript`: words → utterances → ``transcript.parquet``;
* :mod:`~egoinstruct.speech.prosody`: F0, intensity, voicing per role; per-utterance features;
* :mod:`~egoinstruct.speech.quality`: WER, DER and role attribution against the demo truth;
* :mod:`~egoinstruct.speech.reference`: any session against RTTM / STM / text references.

Heavy libraries (torch, whisperx, pyannote) are imported inside the functions that need them,
so importing this package (and the table schemas) stays cheap.
"""

import warnings as _warnings

# pyannote-audio warns at import (twenty lines, in every job log) that torchcodec cannot decode
# files; this stage never gives pyannote a file — it hands over waveforms — so that is moot.
_warnings.filterwarnings("ignore", message=r"\s*torchcodec is not installed correctly", category=UserWarning)
# resemblyzer imports webrtcvad, which imports the deprecated pkg_resources (harmless here).
_warnings.filterwarnings("ignore", message=r"pkg_resources is deprecated", category=UserWarning)

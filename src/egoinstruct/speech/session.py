"""One session's speech: diarize, attribute roles, transcribe, assemble — the ``transcribe`` job.

Contract
--------
:func:`transcribe_session` takes the session-aligned 16 kHz tracks of all devices
(:class:`SessionAudio`, sample 0 = session t 0) and the ``speech`` section of the config
(:class:`~egoinstruct.settings.speech.SpeechSettings`), and returns a :class:`SessionSpeech`:
the ``transcript`` and ``speaker_turns`` tables and a quality record (models, methods used and
why, share of words without timestamps, speaker roles and their evidence, timings and real-time
factor, warnings). Silence everywhere gives empty tables and a warning, not an error.

Which audio:

* diarization always runs on one track: the reference device's, or the first wearer's with
  audio when the reference has none;
* ``source: reference`` transcribes that same track; ``source: wearers`` transcribes each
  wearer's own device and keeps a word from the device of the person who said it (the speaker's
  role), since a voice is clearest on its own wearer's microphone; words of speakers without a
  role, or whose wearer has no audio, come from the diarized track's transcript when that track
  was transcribed, else from the first transcribed device.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from egoinstruct.errors import InputError
from egoinstruct.settings.speech import SpeechSettings
from egoinstruct.speech.asr import Transcriber
from egoinstruct.speech.diarize import Diarization, Diarizer, speaker_count
from egoinstruct.speech.models import resolve_asr_model
from egoinstruct.speech.roles import (
    ROLES,
    UNKNOWN,
    assign_roles,
    band_limited,
    has_audio,
)
from egoinstruct.speech.transcript import (
    SourcedWord,
    assign_word_speakers,
    order_words,
    transcript_table,
    turns_table,
    utterances,
)
from egoinstruct.speech.vad import speech_regions

SAMPLE_RATE_HZ = 16_000

log = logging.getLogger(__name__)


@dataclass
class SessionAudio:
    session: str
    tracks: dict[str, np.ndarray]  # device -> float32 samples on the session clock
    roles: dict[str, str]  # device -> role (instructor | learner | exo)
    reference: str
    rate_hz: int = SAMPLE_RATE_HZ

    @property
    def duration_s(self) -> float:
        return max((len(t) for t in self.tracks.values()), default=0) / self.rate_hz

    def wearer_devices(self) -> dict[str, str]:
        """role -> device of the first head-worn device of each person role."""
        out: dict[str, str] = {}
        for device, role in self.roles.items():
            if role in ROLES and device in self.tracks:
                out.setdefault(role, device)
        return out


@dataclass
class SessionSpeech:
    transcript: pa.Table
    turns: pa.Table
    quality: dict[str, Any]


class SpeechModels:
    """The transcriber and diarizer, loaded once (for one session, or a benchmark of many)."""

    def __init__(self, settings: SpeechSettings, threads: int = 1) -> None:
        start = time.perf_counter()
        self.transcriber = Transcriber(settings, threads=threads)
        self.diarizer = Diarizer(settings)
        self.load_seconds = time.perf_counter() - start


def transcribe_session(audio: SessionAudio, settings: SpeechSettings, threads: int = 1,
                       models: SpeechModels | None = None) -> SessionSpeech:
    if audio.rate_hz != SAMPLE_RATE_HZ:
        raise InputError(f"session {audio.session}: speech needs {SAMPLE_RATE_HZ} Hz tracks, got {audio.rate_hz} Hz")
    started = time.perf_counter()
    warnings: list[str] = []
    seconds: dict[str, float] = {}
    wearers = audio.wearer_devices()
    audible = [d for d in audio.tracks if has_audio(audio.tracks[d])]
    diar_device = audio.reference if audio.reference in audible else next(
        (d for d in wearers.values() if d in audible), None)
    if settings.source == "wearers":
        asr_devices = [d for d in wearers.values() if d in audible] or ([diar_device] if diar_device else [])
    else:
        asr_devices = [diar_device] if diar_device else []

    regions: dict[str, list[tuple[float, float]]] = {}

    def regions_of(device: str) -> list[tuple[float, float]]:
        if device not in regions:
            t0 = time.perf_counter()
            regions[device] = speech_regions(audio.tracks[device], audio.rate_hz, settings.vad,
                                             settings.asr.chunk_size_s)
            seconds["vad"] = seconds.get("vad", 0.0) + time.perf_counter() - t0
        return regions[device]

    quality: dict[str, Any] = {
        "session": audio.session,
        "source": settings.source,
        "duration_s": audio.duration_s,
        "transcribed_devices": asr_devices,
        "diarized_device": diar_device,
        "wearer_devices": wearers,
    }
    if diar_device is None or not regions_of(diar_device):
        why = "no device has audio" if diar_device is None else f"no speech found on {diar_device}"
        warnings.append(f"session {audio.session}: {why}; the transcript is empty")
        log.warning(warnings[-1])
        quality.update(_empty_quality(settings, models))
        quality.update({"warnings": warnings, "seconds": seconds, "rtf": 0.0})
        return SessionSpeech(transcript_table([], {}, None), turns_table([], {}), quality)

    if models is None:
        models = SpeechModels(settings, threads)
        started += models.load_seconds  # the real-time factor is about processing, not loading
    count = speaker_count(len(wearers), settings.speakers)
    diarization: Diarization = models.diarizer(audio.tracks[diar_device], regions_of(diar_device), count)
    seconds["diarization"] = diarization.seconds

    t0 = time.perf_counter()
    wearer_tracks = {role: audio.tracks[device] for role, device in wearers.items()}
    wearer_regions = {role: regions_of(device) for role, device in wearers.items() if device in audible}
    decisions = assign_roles(diarization.turns, diarization.centroids, wearer_tracks, settings.roles, wearer_regions)
    roles = {speaker: d.role for speaker, d in decisions.items()}
    seconds["roles"] = time.perf_counter() - t0
    if count.num == 2 and len(set(roles.values()) - {UNKNOWN}) == 1 and len(roles) >= 2:
        warnings.append(f"session {audio.session}: all speakers were attributed to the {next(iter(set(roles.values())))} "
                        f"(one person talking, or one voice split in two)")
        log.warning(warnings[-1])

    words: list[SourcedWord] = []
    asr_info: dict[str, Any] = {}
    for device in asr_devices:
        result = models.transcriber.transcribe(audio.tracks[device], audio.rate_hz, regions_of(device))
        for key in ("asr", "align"):
            seconds[key] = seconds.get(key, 0.0) + result.seconds.get(key, 0.0)
        asr_info[device] = result
        words.extend(SourcedWord(w, device) for w in result.words)
    assign_word_speakers(words, diarization.turns)
    if settings.source == "wearers" and len(asr_devices) > 1:
        words = _own_device_words(words, roles, wearers, asr_devices, diar_device)
    utts = utterances(order_words(words), settings.utterances)
    language = next((r.language for r in asr_info.values() if r.language), settings.asr.language)
    filtered = {role: band_limited(track) for role, track in wearer_tracks.items() if has_audio(track)}
    transcript = transcript_table(utts, roles, language, filtered if len(filtered) == 2 else None)
    if transcript.num_rows == 0:
        warnings.append(f"session {audio.session}: speech was found but no words were recognised; the transcript is empty")
        log.warning(warnings[-1])

    kept = [w.word for w in words]
    elapsed = time.perf_counter() - started
    first = next(iter(asr_info.values()), None)
    quality.update({
        "asr_model": models.transcriber.source.description,
        "language": language,
        "alignment": {
            "method": first.alignment if first else "none",
            "model": first.alignment_model if first else None,
            "reason": first.alignment_reason if first else "",
        },
        "unaligned_word_share": (sum(not w.timed for w in kept) / len(kept)) if kept else 0.0,
        "diarization": {
            "method": diarization.method,
            "model": diarization.model,
            "reason": diarization.reason,
            "speaker_count": {"num": count.num, "min": count.min, "max": count.max},
            "n_speakers": len(diarization.speakers),
        },
        "roles": {s: {"role": d.role, "method": d.method, "evidence": d.evidence, "reason": d.reason}
                  for s, d in decisions.items()},
        "n_utterances": transcript.num_rows,
        "n_words": len(kept),
        "speech_s": float(sum(end - start for start, end in regions_of(diar_device))),
        "seconds": {**seconds, "total": elapsed, "model_load": models.load_seconds},
        "rtf": elapsed / audio.duration_s if audio.duration_s else 0.0,  # model loading excluded
        "asr_rtf": (seconds.get("vad", 0.0) + seconds.get("asr", 0.0) + seconds.get("align", 0.0)) / audio.duration_s
        if audio.duration_s else 0.0,
        "warnings": warnings,
    })
    return SessionSpeech(transcript, turns_table(diarization.turns, roles), quality)


def _empty_quality(settings: SpeechSettings, models: SpeechModels | None) -> dict[str, Any]:
    # Resolving (not loading) the model still stops on a misconfigured one in a silent session.
    source = models.transcriber.source if models else resolve_asr_model(settings.asr.model, settings.model_cache_dir)
    return {
        "asr_model": source.description,
        "language": settings.asr.language,
        "alignment": {"method": "none", "model": None, "reason": "no speech"},
        "unaligned_word_share": 0.0,
        "diarization": {"method": "none", "model": None, "reason": "no speech", "speaker_count": None, "n_speakers": 0},
        "roles": {},
        "n_utterances": 0,
        "n_words": 0,
        "speech_s": 0.0,
    }


def _own_device_words(words: list[SourcedWord], roles: dict[str, str], wearers: dict[str, str],
                      asr_devices: list[str], diar_device: str | None) -> list[SourcedWord]:
    """Keep each word from the device of the person who said it (see the module docstring)."""
    fallback = diar_device if diar_device in asr_devices else asr_devices[0]
    kept = []
    for w in words:
        role = roles.get(w.speaker or "", UNKNOWN)
        home = wearers.get(role)
        wanted = home if home in asr_devices else fallback
        if w.device == wanted:
            kept.append(w)
    return kept

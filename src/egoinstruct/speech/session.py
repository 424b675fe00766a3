"""One session's speech: diarize, attribute roles, transcribe, assemble — the ``transcribe`` job.

Contract
--------
:func:`transcribe_session` takes the session-aligned 16 kHz tracks of all devices
(:class:`SessionAudio`, sample 0 = session t 0) and the ``speech`` section of the config
(:class:`~egoinstruct.settings.speech.SpeechSettings`), and returns a :class:`SessionSpeech`:
the ``transcript`` and ``speaker_turns`` tables and a quality record (models, methods used and
why, share of words without timestamps, speaker roles and their evidence, timings and real-time
factor without model loading, warnings). Silence everywhere gives empty tables and a warning,
not an error. Warnings a user should see (also in ``warnings``): fewer speakers than the count
expected, all speech given to one role while the sheet has both, a wearer's device that never
heard its wearer near-field.

Which audio:

* diarization: when both wearers' tracks have audio (and ``speech.diarization`` is ``auto`` or
  ``level``), from the level difference between them, frame by frame
  (:mod:`~egoinstruct.speech.level`; turns come out with their roles); otherwise on one track —
  the reference device's, or the first wearer's with audio when the reference has none — by
  pyannote or the offline diarizer, roles then by :mod:`~egoinstruct.speech.roles`;
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
from egoinstruct.speech.diarize import Diarization, Diarizer, SpeakerCount, Turn, speaker_count
from egoinstruct.speech.embeddings import voice_encoder
from egoinstruct.speech.level import level_diarize, never_near_field
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
from egoinstruct.speech.vad import silero_model, speech_regions

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


def load_shared_models() -> float:
    """Load silero-vad and the resemblyzer encoder (cached per process); seconds taken. Loaded
    up front so that no real-time factor includes their loading."""
    start = time.perf_counter()
    silero_model()
    voice_encoder()
    return time.perf_counter() - start


class SpeechModels:
    """The transcriber and diarizer, loaded once (for one session, or a benchmark of many)."""

    def __init__(self, settings: SpeechSettings, threads: int = 1) -> None:
        start = time.perf_counter()
        load_shared_models()
        self.transcriber = Transcriber(settings, threads=threads)
        if self.transcriber.language:  # the configured language's aligner; others load on first use
            self.transcriber.aligner(self.transcriber.language)
        self.diarizer = Diarizer(settings)
        self.load_seconds = time.perf_counter() - start
        self._loaded_at_init = self.transcriber.aligner_load_seconds

    @property
    def later_load_seconds(self) -> float:
        """Seconds spent loading models after construction (aligners of detected languages)."""
        return self.transcriber.aligner_load_seconds - self._loaded_at_init


def transcribe_session(audio: SessionAudio, settings: SpeechSettings, threads: int = 1,
                       models: SpeechModels | None = None) -> SessionSpeech:
    if audio.rate_hz != SAMPLE_RATE_HZ:
        raise InputError(f"session {audio.session}: speech needs {SAMPLE_RATE_HZ} Hz tracks, got {audio.rate_hz} Hz")
    started = time.perf_counter()
    warnings: list[str] = []
    seconds: dict[str, float] = {}
    load_seconds = load_shared_models() if models is None else 0.0
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
        load_seconds += models.load_seconds
    load_before = models.later_load_seconds
    # Roles with a device in the sheet; the count is exact when they say two people or
    # speech.speakers is set (see speaker_count).
    count = speaker_count(len(wearers), settings.speakers)
    wearer_tracks = {role: audio.tracks[device] for role, device in wearers.items()}
    wearer_regions = {role: regions_of(device) for role, device in wearers.items() if device in audible}
    evidence: dict[str, Any] | None = None
    silent_wearers: list[str] = []
    if settings.diarization in ("auto", "level") and len(wearer_regions) == 2:
        level = level_diarize({role: wearer_tracks[role] for role in ROLES}, union_regions(*wearer_regions.values()),
                              settings.level_diarizer, settings.roles)
        reason = (f"both wearers' tracks have audio (speech.diarization: {settings.diarization}): "
                  f"who speaks from the level difference between the instructor's and the learner's device")
        diarization: Diarization = Diarization(level.turns, "level", None, reason, level.centroids, level.seconds)
        decisions = level.decisions
        evidence = level.evidence
        silent_wearers = never_near_field(level.frames)
        seconds["diarization"] = diarization.seconds
        quality["diarized_device"] = "+".join(wearers[role] for role in ROLES)
    else:
        diarization = models.diarizer(audio.tracks[diar_device], regions_of(diar_device), count)
        if settings.diarization == "level":
            diarization.reason = (f"speech.diarization is level, but only {len(wearer_regions)} wearer's track has "
                                  f"audio; {diarization.reason}")
        seconds["diarization"] = diarization.seconds
        t0 = time.perf_counter()
        decisions = assign_roles(diarization.turns, diarization.centroids, wearer_tracks, settings.roles,
                                 wearer_regions)
        seconds["roles"] = time.perf_counter() - t0
    roles = {speaker: d.role for speaker, d in decisions.items()}
    for warning in speaker_warnings(audio.session, count, len(wearers), diarization.turns, roles, silent_wearers):
        warnings.append(warning)
        log.warning(warning)

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
    load_seconds += models.later_load_seconds - load_before
    elapsed = time.perf_counter() - started - load_seconds  # processing only: loading is reported apart
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
            "n_wearer_speakers": len({roles[s] for s in diarization.speakers} - {UNKNOWN}),
            **({"evidence": evidence} if evidence is not None else {}),
        },
        "roles": {s: {"role": d.role, "method": d.method, "evidence": d.evidence, "reason": d.reason}
                  for s, d in decisions.items()},
        "n_utterances": transcript.num_rows,
        "n_words": len(kept),
        "speech_s": float(sum(end - start for start, end in regions_of(diar_device))),
        "seconds": {**seconds, "total": elapsed, "model_load": load_seconds},
        "rtf": elapsed / audio.duration_s if audio.duration_s else 0.0,
        "asr_rtf": (seconds.get("vad", 0.0) + seconds.get("asr", 0.0) + seconds.get("align", 0.0)) / audio.duration_s
        if audio.duration_s else 0.0,
        "warnings": warnings,
    })
    return SessionSpeech(transcript, turns_table(diarization.turns, roles), quality)


def union_regions(*region_lists: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Overlapping regions of several tracks merged, in time order."""
    merged: list[tuple[float, float]] = []
    for start, end in sorted(r for regions in region_lists for r in regions):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def speaker_warnings(session: str, count: SpeakerCount, person_roles: int, turns: list[Turn],
                     roles: dict[str, str], silent_wearers: list[str]) -> list[str]:
    """What a user should see about the speakers found (see the module docstring)."""
    out = []
    speakers = list(dict.fromkeys(t.speaker for t in turns))
    # Another person's voice (role unknown) is not one of the people expected.
    people = [s for s in speakers if roles.get(s, UNKNOWN) != UNKNOWN] or speakers
    expected = count.num if count.num is not None else count.min
    if turns and len(people) < expected:
        out.append(f"session {session}: {len(people)} speaker(s) found, {expected} expected "
                   f"({'speech.speakers' if person_roles < 2 else 'instructor and learner devices in the sheet'}): "
                   f"one person talked, or two voices were taken for one")
    spoken = {roles.get(s, UNKNOWN) for s in speakers} - {UNKNOWN}
    if person_roles >= 2 and len(spoken) == 1:
        role = next(iter(spoken))
        out.append(f"session {session}: all speech was given to the {role}; the sheet has both an instructor "
                   f"and a learner device (one person talking, one voice split in two, or devices swapped)")
    for role in silent_wearers:
        out.append(f"session {session}: the {role}'s device never heard near-field speech (its wearer's own "
                   f"voice): check that the device was worn by the {role} and its microphone recorded")
    return out


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

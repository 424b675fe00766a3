"""A session's speech end to end (diarize, roles, whisperx ASR, utterances) on synthetic sessions.

Silence and the configuration run in the fast suite; whatever loads Whisper is marked slow
(tiny.en loads in seconds, but whisperx and pyannote take ~10 s to import).
"""

from __future__ import annotations

import dataclasses
import logging

import jiwer
import numpy as np
import pytest

from egoinstruct.config import read_config_file
from egoinstruct.demo.speech import VOICES, synthesize
from egoinstruct.errors import InputError, MissingModelError
from egoinstruct.paths import REPO_ROOT
from egoinstruct.settings.workflow import default_settings, load_settings
from egoinstruct.speech import session as speech_session
from egoinstruct.speech.quality import normalise_words
from egoinstruct.speech.session import (
    SessionAudio,
    SpeechModels,
    transcribe_session,
)
from egoinstruct.tables import SPEAKER_TURNS_SCHEMA, TRANSCRIPT_SCHEMA

RATE = 16_000
LINES = [
    ("instructor", "Hi! Today we are going to build a small house out of blocks."),
    ("learner", "Okay, sounds fun."),
    ("instructor", "Put the grey plate in the middle."),
    ("learner", "Is this right?"),
    ("instructor", "Yes, perfect. Now the yellow roof."),
    ("learner", "Thank you, that was easy."),
]
ROLES = {"instructor_aria": "instructor", "learner_aria": "learner", "exo_gopro": "exo"}


def config_settings(**overrides):
    """The ``speech`` section of config/config.yaml with ``overrides`` (plain config values),
    checked as the workflow checks a configuration (schema, then typed settings)."""
    config = read_config_file(REPO_ROOT / "config" / "config.yaml")
    config["speech"].update(overrides)
    return load_settings(config, "config/config.yaml").speech


def speech_settings(**changes):
    """The default ``speech`` section (typed) with ``changes``."""
    return dataclasses.replace(default_settings().speech, **changes)


def build_session(clips, lines=LINES, gap_s=0.6, lead_s=0.7, partner_db=-10.0, silent=()) -> tuple[SessionAudio, list]:
    """Head tracks (own voice loud, partner 10 dB lower) and an exo track (both at -6 dB)."""
    rng = np.random.default_rng(7)
    placed, t = [], lead_s
    for (role, text), clip in zip(lines, clips, strict=True):
        placed.append((role, text, clip, t))
        t += len(clip) / RATE + gap_s
    n = int((t + lead_s) * RATE)
    tracks = {d: (rng.standard_normal(n) * 3e-4).astype(np.float32) for d in ROLES}
    for role, _, clip, start in placed:
        a = int(start * RATE)
        for device, device_role in ROLES.items():
            gain_db = 0.0 if device_role == role else (-6.0 if device_role == "exo" else partner_db)
            tracks[device][a:a + len(clip)] += 10 ** (gain_db / 20) * clip
    for device in silent:
        tracks[device] = np.zeros(n, np.float32)
    return SessionAudio("synthetic", tracks, dict(ROLES), "instructor_aria"), placed


def wer(placed, transcript) -> float:
    reference = " ".join(w for _, text, _, _ in placed for w in normalise_words(text))
    hypothesis = " ".join(w for text in transcript.column("text").to_pylist() for w in normalise_words(text))
    return jiwer.wer(reference, hypothesis)


# -- fast ---------------------------------------------------------------------------------------


def test_config_section_builds_settings():
    settings = config_settings()
    assert settings == default_settings().speech
    assert settings.source == "reference" and settings.align == "auto"
    assert config_settings(align=False).align == "off"  # YAML 1.1 reads `off` as false
    with pytest.raises(InputError, match="unknown key"):
        config_settings(roles={"min_ratio_db": 3, "nonsense": 1})
    with pytest.raises(InputError, match="speech.source"):
        config_settings(source="everyone")
    assert config_settings(diarization="level").diarization == "level"
    with pytest.raises(InputError, match="speech.diarization"):
        config_settings(diarization="voices")


def test_silence_only_gives_empty_tables_and_a_warning(monkeypatch, caplog):
    def no_models(*args, **kwargs):
        raise AssertionError("models must not be loaded for a silent session")

    monkeypatch.setattr(speech_session, "SpeechModels", no_models)
    silent = {d: np.zeros(RATE * 5, np.float32) for d in ROLES}
    with caplog.at_level(logging.WARNING):
        result = transcribe_session(SessionAudio("quiet", silent, dict(ROLES), "instructor_aria"), speech_settings())
    assert result.transcript.num_rows == 0 and result.transcript.schema.equals(TRANSCRIPT_SCHEMA)
    assert result.turns.num_rows == 0 and result.turns.schema.equals(SPEAKER_TURNS_SCHEMA)
    assert result.quality["warnings"] and "no device has audio" in result.quality["warnings"][0]
    assert any("transcript is empty" in r.getMessage() for r in caplog.records)


def test_noise_only_gives_empty_tables(monkeypatch):
    monkeypatch.setattr(speech_session, "SpeechModels", None)
    limits = []
    regions = speech_session.speech_regions

    def recorded_regions(samples, rate_hz, vad, max_region_s):
        limits.append(max_region_s)
        return regions(samples, rate_hz, vad, max_region_s)

    monkeypatch.setattr(speech_session, "speech_regions", recorded_regions)
    rng = np.random.default_rng(0)
    noise = {d: (rng.standard_normal(RATE * 5) * 1e-3).astype(np.float32) for d in ROLES}
    settings = speech_settings()
    result = transcribe_session(SessionAudio("hiss", noise, dict(ROLES), "instructor_aria"), settings)
    assert result.transcript.num_rows == 0 and "no speech found" in result.quality["warnings"][0]
    assert limits and set(limits) == {settings.asr.chunk_size_s}  # VAD regions fit one ASR chunk


def test_silent_session_still_reports_a_missing_model(tmp_path):
    silent = {d: np.zeros(RATE, np.float32) for d in ROLES}
    default = default_settings().speech
    settings = speech_settings(asr=dataclasses.replace(default.asr, model=str(tmp_path / "nowhere")))
    with pytest.raises(MissingModelError, match="does not exist"):
        transcribe_session(SessionAudio("quiet", silent, dict(ROLES), "instructor_aria"), settings)


# -- slow: Whisper loaded -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def clips():
    return synthesize([(VOICES[role], text) for role, text in LINES], rate_hz=RATE)


@pytest.fixture(scope="module")
def models():
    return SpeechModels(speech_settings(diarization="offline"), threads=2)


@pytest.mark.slow
def test_two_people(clips, models):
    audio, placed = build_session(clips)
    result = transcribe_session(audio, speech_settings(diarization="offline"), models=models)
    q = result.quality
    assert q["diarization"]["method"] == "offline" and q["diarization"]["n_speakers"] == 2
    # speed is measured by bench/bench_transcribe.py, not asserted here (machine load varies)
    assert q["alignment"]["method"] in {"whisper", "wav2vec2"} and q["rtf"] > 0
    assert sorted(r["role"] for r in q["roles"].values()) == ["instructor", "learner"]
    rows = result.transcript.to_pylist()
    assert wer(placed, result.transcript) < 0.3
    for row in rows:  # every utterance lies in a line of its own role
        middle = 0.5 * (row["t_start"] + row["t_end"])
        line = min(placed, key=lambda p: abs(p[3] + len(p[2]) / RATE / 2 - middle))
        assert row["role"] == line[0], (row, line[1])
    assert all(abs(r["energy_ratio_db"]) > 5 for r in rows)


@pytest.mark.slow
def test_one_speaker_session(clips, models):
    lines = [(role, text) for role, text in LINES if role == "instructor"]
    audio, placed = build_session([c for (role, _), c in zip(LINES, clips, strict=True) if role == "instructor"], lines)
    result = transcribe_session(audio, speech_settings(), models=models)  # both wearers: level
    q = result.quality
    assert q["diarization"]["method"] == "level" and q["diarization"]["n_speakers"] == 1
    assert any("all speech was given to the instructor" in w for w in q["warnings"])
    assert any("learner's device never heard near-field speech" in w for w in q["warnings"])
    assert set(result.transcript.column("role").to_pylist()) == {"instructor"}
    assert set(result.turns.column("role").to_pylist()) == {"instructor"}
    assert wer(placed, result.transcript) < 0.3


@pytest.mark.slow
def test_overlapping_speech_does_not_crash(clips, models):
    audio, _ = build_session(clips, gap_s=-1.0, lead_s=1.5)
    result = transcribe_session(audio, speech_settings(diarization="offline"), models=models)
    assert result.transcript.num_rows > 0 and result.transcript.schema.equals(TRANSCRIPT_SCHEMA)
    starts = result.transcript.column("t_start").to_pylist()
    assert starts == sorted(starts)


@pytest.mark.slow
def test_only_the_instructors_glasses_recorded(clips, models):
    audio, _ = build_session(clips, silent=("learner_aria",))
    result = transcribe_session(audio, speech_settings(diarization="offline"), models=models)
    methods = {r["method"] for r in result.quality["roles"].values()}
    assert methods == {"embedding"}
    assert sorted(r["role"] for r in result.quality["roles"].values()) == ["instructor", "learner"]


@pytest.mark.slow
def test_wearers_source_keeps_each_word_from_its_speakers_device(clips, models):
    audio, placed = build_session(clips)
    result = transcribe_session(audio, speech_settings(diarization="offline", source="wearers"), models=models)
    rows = result.transcript.to_pylist()
    assert result.quality["transcribed_devices"] == ["instructor_aria", "learner_aria"]
    assert all(r["source_device"] == f"{r['role']}_aria" for r in rows)
    assert wer(placed, result.transcript) < 0.3


@pytest.mark.slow
def test_whisper_word_times_reuse_the_decoders_encoder_output(clips, models):
    audio, placed = build_session(clips)
    track = audio.tracks["instructor_aria"]
    transcriber = models.transcriber
    result = transcriber.transcribe(track)
    assert result.alignment == "whisper" and result.unaligned_share == 0.0
    again = transcriber._whisper_words(track, result.segments, "en", None)  # encoded from scratch
    assert [w.word for w in again] == [w.word for w in result.words]
    assert np.median([abs(a.start - b.start) for a, b in zip(again, result.words, strict=True)]) < 0.05
    starts = [w.start for w in result.words]
    assert starts == sorted(starts) and starts[0] >= placed[0][3] - 0.5


@pytest.mark.slow
def test_alignment_required_offline_stops_with_how_to(monkeypatch, models, tmp_path):
    from egoinstruct import hub
    from egoinstruct.speech.asr import Transcriber

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    hub._connect_reason.cache_clear()
    transcriber = Transcriber.__new__(Transcriber)  # share the loaded Whisper; only alignment differs
    transcriber.__dict__.update(models.transcriber.__dict__)
    transcriber.speech = dataclasses.replace(models.transcriber.speech, align="required")
    transcriber._aligners = {}
    with pytest.raises(MissingModelError, match="WAV2VEC2_ASR_BASE_960H.*cannot be downloaded now.*save it as"):
        transcriber.aligner("en")
    transcriber.speech = dataclasses.replace(models.transcriber.speech, align="auto")
    assert "HF_HUB_OFFLINE is set" in transcriber.aligner("en")


@pytest.mark.slow
def test_real_recording_as_two_wearers_end_to_end(models):
    """pyannote.audio's real two-person sample (see speech_samples.py) as two wearers' devices."""
    from speech_samples import sample_folder, two_wearer_tracks

    from egoinstruct.speech.reference import (
        diarization_scores,
        read_rttm,
        read_stm,
        rttm_annotation,
        word_scores,
    )

    tracks = two_wearer_tracks({"instructor": "speaker90", "learner": "speaker91"})
    audio = SessionAudio("real", {"instructor_aria": tracks["instructor"], "learner_aria": tracks["learner"]},
                         {"instructor_aria": "instructor", "learner_aria": "learner"}, "instructor_aria")
    result = transcribe_session(audio, speech_settings(), models=models)
    q = result.quality
    assert q["diarization"]["method"] == "level" and q["warnings"] == []
    assert q["diarization"]["evidence"]["decided_by_level"] > 0.8
    assert q["seconds"]["model_load"] == 0 and q["rtf"] > 0
    role_of = {"speaker90": "instructor", "speaker91": "learner"}
    reference = [(a, b, role_of[s]) for a, b, s in read_rttm(sample_folder() / "sample.rttm")]
    turns = list(zip(*(result.turns.column(c).to_pylist() for c in ("t_start", "t_end", "role")), strict=True))
    assert diarization_scores(rttm_annotation(reference), rttm_annotation(turns))["der"] <= 0.10
    text = " ".join(t for *_, t in read_stm(sample_folder() / "sample.stm"))
    assert word_scores(text, " ".join(result.transcript.column("text").to_pylist()), "en")["wer"] < 0.3

"""Prosody: a tone of known pitch comes back within 1 %, silence gives NaN, masks follow the turns."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from egoinstruct.settings.speech import ProsodySettings
from egoinstruct.settings.workflow import defaults_for
from egoinstruct.speech.prosody import (
    TrackFeatures,
    egemaps_tracks,
    grid,
    role_tracks,
    track_features,
    utterance_features,
)
from egoinstruct.tables import EGEMAPS_SCHEMA, PROSODY_SCHEMA, PROSODY_UTTERANCES_SCHEMA

RATE = 16_000
SETTINGS = defaults_for(ProsodySettings)  # the ``prosody`` section of config/config.yaml


def voice_like(f0_hz: float, seconds: float, level: float = 0.3) -> np.ndarray:
    """A harmonic tone (fundamental and four overtones, falling amplitudes), like a sustained vowel."""
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * sum(np.sin(2 * np.pi * k * f0_hz * t) / k for k in range(1, 6))).astype(np.float32)


@pytest.mark.parametrize("f0_hz", [80.0, 110.0, 200.0, 310.0])
def test_tone_of_known_pitch_within_one_percent(f0_hz):
    samples = np.concatenate([np.zeros(RATE // 2, np.float32), voice_like(f0_hz, 2.0), np.zeros(RATE // 2, np.float32)])
    f = track_features(samples, len(samples) / RATE, SETTINGS)
    assert len(f.t) == 300 and f.t[1] - f.t[0] == pytest.approx(0.01)
    voiced = f.f0_hz[(f.t > 0.6) & (f.t < 2.4)]
    assert np.isfinite(voiced).all()
    assert abs(np.median(voiced) / f0_hz - 1) < 0.01
    assert np.max(np.abs(voiced / f0_hz - 1)) < 0.01
    assert not np.isfinite(f.f0_hz[f.t < 0.4]).any()  # silence before the tone is unvoiced


def test_pure_sine_pitch():
    t = np.arange(RATE) / RATE
    f = track_features(0.2 * np.sin(2 * np.pi * 220.0 * t), 1.0, SETTINGS)
    assert abs(np.nanmedian(f.f0_hz) / 220.0 - 1) < 0.01


def test_intensity_follows_level_and_silence_is_nan():
    quiet, loud = voice_like(150, 1.0, 0.01), voice_like(150, 1.0, 0.1)
    samples = np.concatenate([np.zeros(RATE, np.float32), quiet, loud])
    f = track_features(samples, 3.0, SETTINGS)
    assert not np.isfinite(f.intensity_db[(f.t > 0.1) & (f.t < 0.9)]).any()
    difference = np.nanmedian(f.intensity_db[(f.t > 2.2) & (f.t < 2.8)]) - np.nanmedian(f.intensity_db[(f.t > 1.2) & (f.t < 1.8)])
    assert difference == pytest.approx(20.0, abs=0.5)  # ten times the amplitude


def test_silent_or_empty_track_has_no_features():
    for samples in (np.zeros(RATE * 2, np.float32), np.zeros(10, np.float32)):
        f = track_features(samples, 2.0, SETTINGS)
        assert len(f.t) == 200 and not np.isfinite(f.f0_hz).any() and not np.isfinite(f.intensity_db).any()


def test_role_tracks_voiced_only_while_the_role_speaks():
    samples = voice_like(200, 3.0)
    f = track_features(samples, 3.0, SETTINGS)
    turns = pd.DataFrame({"t_start": [0.5, 2.0], "t_end": [1.0, 2.5], "speaker": ["S0", "S1"],
                          "role": ["instructor", "learner"]})
    table = role_tracks({"instructor": f, "learner": f}, turns)
    assert table.schema.equals(PROSODY_SCHEMA)
    frame = table.to_pandas()
    instructor = frame[frame.role == "instructor"]
    assert instructor.speaking.sum() == 50 and instructor.voiced.sum() == 50
    assert instructor.f0_hz.isna().sum() == len(instructor) - 50  # NaN, not null, outside
    assert table.column("f0_hz").null_count == 0


def test_utterance_features():
    t = grid(4.0)
    f0 = np.where((t >= 1.0) & (t < 2.0), 100.0 + 10 * (t - 1.0), np.nan)
    f0[(t >= 3.0) & (t < 3.5)] = 250.0
    features = TrackFeatures(t, f0, np.full(len(t), 60.0))
    transcript = pd.DataFrame({
        "t_start": [1.0, 3.0], "t_end": [2.0, 3.5], "speaker": ["S0", "S1"], "role": ["instructor", "unknown"],
        "words": [[{"word": w} for w in "one two three four".split()], [{"word": "yes"}]],
    })
    table = utterance_features(transcript, {"instructor": features, "unknown": features},
                               {"instructor": "instructor_aria", "unknown": "instructor_aria"})
    assert table.schema.equals(PROSODY_UTTERANCES_SCHEMA)
    first, second = table.to_pylist()
    assert first["f0_mean_hz"] == pytest.approx(104.95, abs=0.01)
    assert first["f0_std_hz"] == pytest.approx(np.std(100 + 10 * (np.arange(100) / 100), ddof=1))
    assert first["voiced_share"] == pytest.approx(1.0) and first["speaking_rate_wps"] == pytest.approx(4.0)
    assert math.isnan(first["pause_before_s"]) and second["pause_before_s"] == pytest.approx(1.0)
    assert second["f0_mean_hz"] == pytest.approx(250.0) and second["n_words"] == 1


def test_egemaps_on_the_100hz_grid():
    tracks = {"instructor": voice_like(120, 1.5), "learner": np.zeros(int(1.5 * RATE), np.float32)}
    table = egemaps_tracks(tracks, 1.5)
    assert table.schema.equals(EGEMAPS_SCHEMA)
    frame = table.to_pandas()
    assert len(frame) == 2 * 150
    instructor = frame[frame.role == "instructor"]
    semitones = instructor["F0semitoneFrom27.5Hz_sma3nz"].to_numpy()[20:120]
    # eGeMAPS F0 in semitones above 27.5 Hz: 120 Hz is 12·log2(120/27.5) ≈ 25.5
    assert np.nanmedian(semitones[semitones > 0]) == pytest.approx(12 * np.log2(120 / 27.5), abs=0.3)
    assert frame[frame.role == "learner"].Loudness_sma3.isna().all()


def test_settings_are_used():
    samples = voice_like(90.0, 1.0)
    f = track_features(samples, 1.0, defaults_for(ProsodySettings, pitch_floor_hz=100.0))
    assert not (np.abs(f.f0_hz[np.isfinite(f.f0_hz)] - 90.0) < 1.0).any()  # 90 Hz is below the floor

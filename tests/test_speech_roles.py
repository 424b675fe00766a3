"""Offline diarizer and speaker → role on synthetic two-voice sessions (espeak-ng voices).

Each wearer's own voice is 10 dB louder on their own device, as in the demo sessions and in real
egocentric recordings. No ASR here: these run in the fast suite.
"""

from __future__ import annotations

import numpy as np
import pytest

from egoinstruct.demo.speech import VOICES, synthesize
from egoinstruct.settings.workflow import default_settings
from egoinstruct.speech.diarize import (
    SpeakerCount,
    Turn,
    offline_turns,
    speaker_centroids,
    speaker_count,
)
from egoinstruct.speech.embeddings import track_mel
from egoinstruct.speech.roles import assign_roles, band_limited, energy_ratio_db
from egoinstruct.speech.vad import speech_regions

RATE = 16_000
SPEECH = default_settings().speech  # the ``speech`` section of config/config.yaml
ROLES = SPEECH.roles
LINES = [
    ("instructor", "Put the grey plate in the middle of the table."),
    ("learner", "Like this, with the long side towards me?"),
    ("instructor", "Yes, exactly. Now take the two red blocks."),
    ("learner", "Should they touch each other?"),
    ("instructor", "No, leave one stud of space between them and press down."),
    ("learner", "Okay, that was easy, thank you."),
]


@pytest.fixture(scope="module")
def clips() -> list[np.ndarray]:
    return synthesize([(VOICES[role], text) for role, text in LINES], rate_hz=RATE)


def mix(parts: list[tuple[str, np.ndarray, float]], duration_s: float, partner_db: float = -10.0,
        seed: int = 0) -> dict[str, np.ndarray]:
    """Both wearers' tracks: own voice at full level, the partner's ``partner_db`` lower, a noise floor."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * RATE)
    tracks = {role: (rng.standard_normal(n) * 3e-4).astype(np.float32) for role in ("instructor", "learner")}
    for role, clip, start in parts:
        a = int(start * RATE)
        for device_role, track in tracks.items():
            gain = 1.0 if device_role == role else 10 ** (partner_db / 20)
            track[a:a + len(clip)] += gain * clip[: n - a]
    return tracks


def dialogue(clips: list[np.ndarray], gap_s: float = 0.6, lead_s: float = 0.5) -> tuple[list, list[tuple[float, float, str]], float]:
    parts, truth, t = [], [], lead_s
    for (role, _), clip in zip(LINES, clips, strict=True):
        parts.append((role, clip, t))
        truth.append((t, t + len(clip) / RATE, role))
        t += len(clip) / RATE + gap_s
    return parts, truth, t + lead_s


def role_time_accuracy(turns: list[Turn], roles: dict[str, str], truth: list[tuple[float, float, str]]) -> float:
    step = 0.01
    correct = total = 0
    for start, end, role in truth:
        for t in np.arange(start, end, step):
            total += 1
            correct += any(tr.start <= t < tr.end and roles[tr.speaker] == role for tr in turns)
    return correct / total


def diarize(track: np.ndarray, count: SpeakerCount) -> tuple[list[Turn], list[tuple[float, float]], np.ndarray]:
    regions = speech_regions(track, RATE, SPEECH.vad)
    mel = track_mel(track)
    return offline_turns(mel, regions, count, SPEECH.offline_diarizer), regions, mel


def test_speaker_count_from_roles():
    assert speaker_count(2).keywords() == {"num_speakers": 2}
    assert speaker_count(1).keywords() == {"min_speakers": 1, "max_speakers": 2}
    assert speaker_count(2, configured=3).keywords() == {"num_speakers": 3}


def test_two_speakers_energy_ratio_roles(clips):
    parts, truth, duration = dialogue(clips)
    tracks = mix(parts, duration)
    turns, regions, mel = diarize(tracks["instructor"], SpeakerCount(num=2))
    assert len({t.speaker for t in turns}) == 2
    decisions = assign_roles(turns, speaker_centroids(mel, turns), tracks, ROLES)
    assert {d.method for d in decisions.values()} == {"energy_ratio"}
    assert sorted(d.role for d in decisions.values()) == ["instructor", "learner"]
    assert all(abs(abs(d.evidence) - 10.0) < 2.0 for d in decisions.values())
    roles = {s: d.role for s, d in decisions.items()}
    assert role_time_accuracy(turns, roles, truth) >= 0.95


def test_one_speaker_session_is_one_speaker_and_one_role(clips):
    parts, _, duration = dialogue(clips)
    only = [(role, clip, start) for role, clip, start in parts if role == "learner"]
    tracks = mix(only, duration)
    turns, regions, mel = diarize(tracks["instructor"], SpeakerCount(min=1, max=2))
    assert turns and len({t.speaker for t in turns}) == 1  # open count: two clusters of one voice merge
    known, _, _ = diarize(tracks["instructor"], SpeakerCount(num=2))
    assert len({t.speaker for t in known}) == 2  # a known count is honoured, never merged away
    decisions = assign_roles(turns, speaker_centroids(mel, turns), tracks, ROLES)
    assert [d.role for d in decisions.values()] == ["learner"]


def test_overlapping_speech_does_not_crash(clips):
    parts, _, duration = dialogue(clips, gap_s=-1.0, lead_s=1.2)  # every line overlaps the next by 1 s
    tracks = mix(parts, duration)
    turns, regions, mel = diarize(tracks["instructor"], SpeakerCount(num=2))
    assert turns and all(t.end > t.start for t in turns)
    assert all(a.end <= b.start + 1e-9 for a, b in zip(turns, turns[1:], strict=False))  # one at a time
    decisions = assign_roles(turns, speaker_centroids(mel, turns), tracks, ROLES)
    assert set(d.role for d in decisions.values()) <= {"instructor", "learner", "unknown"}


def test_only_one_device_has_audio_uses_voice_similarity(clips):
    parts, truth, duration = dialogue(clips)
    tracks = mix(parts, duration)
    tracks["learner"] = np.zeros_like(tracks["learner"])  # the learner's glasses recorded nothing
    turns, regions, mel = diarize(tracks["instructor"], SpeakerCount(num=2))
    decisions = assign_roles(turns, speaker_centroids(mel, turns), tracks, ROLES, {"instructor": regions})
    assert {d.method for d in decisions.values()} == {"embedding"}
    roles = {s: d.role for s, d in decisions.items()}
    assert sorted(roles.values()) == ["instructor", "learner"]
    assert role_time_accuracy(turns, roles, truth) >= 0.95


def test_no_wearer_audio_gives_unknown(clips):
    parts, _, duration = dialogue(clips)
    tracks = mix(parts, duration)
    turns, _, mel = diarize(tracks["instructor"], SpeakerCount(num=2))
    silent = {role: np.zeros_like(t) for role, t in tracks.items()}
    decisions = assign_roles(turns, {}, silent, ROLES)
    assert {d.role for d in decisions.values()} == {"unknown"}
    assert all("no wearer's device has audio" in d.reason for d in decisions.values())


def test_equal_levels_are_undecided_by_energy():
    rng = np.random.default_rng(1)
    noise = (rng.standard_normal(RATE * 2) * 0.1).astype(np.float32)
    filtered = {"instructor": band_limited(noise), "learner": band_limited(noise)}
    assert abs(energy_ratio_db(filtered, 0.5, 1.5)) < 1e-6
    turns = [Turn(0.5, 1.5, "SPEAKER_00")]
    decisions = assign_roles(turns, {}, {"instructor": noise, "learner": noise.copy()}, ROLES)
    assert decisions["SPEAKER_00"].role == "unknown"
    assert "below 3.0 dB" in decisions["SPEAKER_00"].reason

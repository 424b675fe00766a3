"""Two-wearer (level) diarization, on real recorded speech and on synthetic voices.

The real recording is the sample pyannote.audio's wheel ships (two people, similar voices; see
``speech_samples.py`` for its source and licence), presented as two wearers: each speaker's
turns (from the publisher's RTTM) at full level on their own device, 10 dB lower on the
partner's. No ASR here: these run in the fast suite.
"""

from __future__ import annotations

import numpy as np
from speech_samples import RATE, rttm_turns, two_wearer_tracks

from egoinstruct.demo.speech import VOICES, synthesize
from egoinstruct.settings.workflow import default_settings
from egoinstruct.speech.level import level_diarize, never_near_field
from egoinstruct.speech.reference import diarization_scores, rttm_annotation
from egoinstruct.speech.session import union_regions
from egoinstruct.speech.vad import speech_regions

SPEECH = default_settings().speech
WEARERS = {"instructor": "speaker90", "learner": "speaker91"}  # Diane wears the instructor's glasses


def diarize(tracks: dict[str, np.ndarray]):
    regions = union_regions(*(speech_regions(t, RATE, SPEECH.vad) for t in tracks.values() if np.any(t)))
    return level_diarize(tracks, regions, SPEECH.level_diarizer, SPEECH.roles)


def role_turns(result) -> list[tuple[float, float, str]]:
    return [(t.start, t.end, result.decisions[t.speaker].role) for t in result.turns]


def reference_by_role() -> list[tuple[float, float, str]]:
    role_of = {speaker: role for role, speaker in WEARERS.items()}
    return [(a, b, role_of[s]) for a, b, s in rttm_turns()]


def test_real_recording_as_two_wearers():
    result = diarize(two_wearer_tracks(WEARERS))
    scores = diarization_scores(rttm_annotation(reference_by_role()), rttm_annotation(role_turns(result)))
    assert scores["der"] <= 0.10, scores
    assert scores["speakers_hypothesis"] == 2
    # every reference turn is mostly covered by a turn of its own role
    for start, end, role in reference_by_role():
        own = sum(max(0.0, min(end, b) - max(start, a)) for a, b, r in role_turns(result) if r == role)
        assert own >= 0.5 * (end - start), (start, end, role)
    evidence = result.evidence
    assert evidence["median_level_difference_db"]["instructor"] > 6
    assert evidence["median_level_difference_db"]["learner"] < -6
    assert evidence["decided_by_level"] > 0.8
    assert never_near_field(result.frames) == []


def test_swapped_wearers_swap_the_roles():
    swapped = {"instructor": "speaker91", "learner": "speaker90"}
    result = diarize(two_wearer_tracks(swapped))
    first = min(result.turns, key=lambda t: t.start)  # speaker90 ("Hello?" at 6.7 s) opens
    assert result.decisions[first.speaker].role == "learner"


def test_one_device_off_for_a_stretch_is_not_given_to_the_other():
    tracks = two_wearer_tracks(WEARERS)
    off = slice(int(14.0 * RATE), int(22.0 * RATE))  # the learner's glasses stop recording
    tracks["learner"][off] = 0.0
    result = diarize(tracks)
    assert result.evidence["device_off"] > 0.2
    during = [(a, b, r) for a, b, r in role_turns(result) if a < 22.0 and b > 14.0]
    # Sheila (learner) talks 14.5-17.9 s: heard far-field by the instructor's glasses only; she
    # must not become the instructor
    wrong = sum(max(0.0, min(b, 17.9) - max(a, 14.5)) for a, b, r in during if r == "instructor")
    assert wrong < 1.0, during  # Diane's turn ends at 14.7 s, in overlap
    # Diane (instructor) talks 18.05-21.5 s: near-field on the device that is on
    right = sum(max(0.0, min(b, 21.5) - max(a, 18.6)) for a, b, r in during if r == "instructor")
    assert right > 2.0, during


def test_a_third_voice_near_field_on_neither_device_is_not_a_wearer():
    tracks = two_wearer_tracks(WEARERS)
    n = len(tracks["instructor"])
    visitor = synthesize([(VOICES["learner"], "Excuse me, where do I put the spare parts box?")], rate_hz=RATE)[0]
    speech = np.concatenate([tracks["instructor"][int(a * RATE):int(b * RATE)] for a, b, _ in rttm_turns()])
    visitor = visitor * np.sqrt(np.mean(speech ** 2) / np.mean(visitor ** 2))  # as loud as the wearers' voices
    start = n + int(0.5 * RATE)
    padded = {role: np.concatenate([t, np.zeros(len(visitor) + RATE, np.float32)]) for role, t in tracks.items()}
    for track in padded.values():  # 2 m from both wearers: 16 dB below a wearer's voice on their own device
        track[start:start + len(visitor)] += 10 ** (-16 / 20) * visitor
        track[n:] += np.random.default_rng(1).standard_normal(len(track) - n).astype(np.float32) * 1e-4
    result = diarize(padded)
    after = [(a, b, r) for a, b, r in role_turns(result) if b > n / RATE + 0.3]
    assert after and all(r == "unknown" for _, _, r in after), after
    assert result.evidence["other_person"] > 0


def test_clipped_frames_do_not_decide():
    tracks = two_wearer_tracks(WEARERS)
    loud = {role: np.clip(t * 40.0, -1.0, 1.0) for role, t in tracks.items()}  # both devices overdriven
    result = diarize(loud)
    assert result.evidence["clipped"] > 0.3
    assert result.evidence["decided_by_level"] < 1.0


def test_one_person_talking_is_one_speaker_and_the_silent_wearer_is_reported():
    clips = synthesize([(VOICES["instructor"], "Put the grey plate in the middle of the table."),
                        (VOICES["instructor"], "Now take the two red blocks and press them down.")], rate_hz=RATE)
    rng = np.random.default_rng(0)
    n = int((sum(len(c) for c in clips) / RATE + 2.0) * RATE)
    tracks = {role: (rng.standard_normal(n) * 3e-4).astype(np.float32) for role in ("instructor", "learner")}
    t = int(0.5 * RATE)
    for clip in clips:
        tracks["instructor"][t:t + len(clip)] += clip
        tracks["learner"][t:t + len(clip)] += 10 ** (-10 / 20) * clip
        t += len(clip) + int(0.8 * RATE)
    result = diarize(tracks)
    assert {d.role for d in result.decisions.values()} == {"instructor"}
    assert never_near_field(result.frames) == ["learner"]


def test_real_recording_as_one_device_with_two_speakers_known():
    from speech_samples import sample_audio

    from egoinstruct.speech.diarize import SpeakerCount, offline_turns
    from egoinstruct.speech.embeddings import track_mel

    audio = sample_audio()
    regions = speech_regions(audio, RATE, SPEECH.vad)
    mel = track_mel(audio)
    known = offline_turns(mel, regions, SpeakerCount(num=2, min=2, max=2), SPEECH.offline_diarizer)
    assert len({t.speaker for t in known}) == 2  # speech.speakers: 2 is honoured
    scores = diarization_scores(rttm_annotation(rttm_turns()),
                                rttm_annotation([(t.start, t.end, t.speaker) for t in known]))
    assert scores["der"] < 0.25, scores
    # Left open, the two real voices (as alike as one person's halves) are merged: why the count
    # matters, and why a two-wearer session warns when it finds one speaker.
    open_count = offline_turns(mel, regions, SpeakerCount(min=1, max=2), SPEECH.offline_diarizer)
    assert len({t.speaker for t in open_count}) == 1


def test_speaker_warnings():
    from egoinstruct.speech.diarize import SpeakerCount, Turn
    from egoinstruct.speech.session import speaker_warnings

    one = [Turn(0, 1, "SPEAKER_00"), Turn(2, 3, "SPEAKER_00")]
    two_people = SpeakerCount(num=2, min=2, max=2)
    found = speaker_warnings("s", two_people, 2, one, {"SPEAKER_00": "instructor"}, ["learner"])
    assert len(found) == 3
    assert "1 speaker(s) found, 2 expected" in found[0]
    assert "all speech was given to the instructor" in found[1]
    assert "learner's device never heard near-field speech" in found[2]
    both = [*one, Turn(1, 2, "SPEAKER_01")]
    assert speaker_warnings("s", two_people, 2, both, {"SPEAKER_00": "instructor", "SPEAKER_01": "learner"}, []) == []
    # one device, count left open: one speaker is fine; speech.speakers: 2 makes it a warning
    assert speaker_warnings("s", SpeakerCount(min=1, max=2), 1, one, {"SPEAKER_00": "instructor"}, []) == []
    assert speaker_warnings("s", two_people, 1, one, {"SPEAKER_00": "unknown"}, [])[0].startswith(
        "session s: 1 speaker(s) found, 2 expected (speech.speakers)")

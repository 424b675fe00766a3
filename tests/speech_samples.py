"""Real recorded speech for the speech tests: the sample that pyannote.audio's wheel ships.

``pyannote/audio/sample/sample.wav`` (30 s, 16 kHz mono, two people on a telephone-style call:
"Diane" and "Sheila", similar voices), with the publisher's who-spoke-when (``sample.rttm``) and
words (``sample.stm``). pyannote.audio is MIT-licensed (its wheel's metadata); the sample is the
one its README and tutorials use. It is read from the installed package, never copied here.

:func:`two_wearer_tracks` presents that one-microphone recording as two wearers' devices the way
a room would record them: during a speaker's turns (from the RTTM) the speech is at full level on
that speaker's own device and 10 dB lower on the partner's; where both speak (overlap) both
devices are near-field; elsewhere both devices hear the room 10 dB down. Gains change over 20 ms
ramps, and each device adds its own faint noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

RATE = 16_000


def sample_folder() -> Path:
    import pyannote.audio

    return Path(pyannote.audio.__file__).parent / "sample"


def sample_audio() -> np.ndarray:
    from egoinstruct.media.audio import read_wav

    samples, rate = read_wav(sample_folder() / "sample.wav")
    assert rate == RATE
    return np.asarray(samples, dtype=np.float32)


def rttm_turns() -> list[tuple[float, float, str]]:
    """(start, end, speaker) of sample.rttm."""
    out = []
    for line in (sample_folder() / "sample.rttm").read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == "SPEAKER":
            start, duration = float(fields[3]), float(fields[4])
            out.append((start, start + duration, fields[7]))
    return out


def _ramped(mask: np.ndarray, ramp: int) -> np.ndarray:
    return np.convolve(mask.astype(np.float32), np.ones(ramp, np.float32) / ramp, mode="same")


def two_wearer_tracks(wearers: dict[str, str], partner_db: float = -10.0, seed: int = 0,
                      ) -> dict[str, np.ndarray]:
    """role -> track, ``wearers``: role -> RTTM speaker wearing that role's device."""
    audio = sample_audio()
    n = len(audio)
    active = {}
    for speaker in set(wearers.values()):
        mask = np.zeros(n, bool)
        for start, end, who in rttm_turns():
            if who == speaker:
                mask[int(start * RATE):int(end * RATE)] = True
        active[speaker] = _ramped(mask, int(0.02 * RATE))
    far = 10 ** (partner_db / 20)
    rng = np.random.default_rng(seed)
    tracks = {}
    for role, speaker in wearers.items():
        gain = far + (1 - far) * active[speaker]  # own voice near-field, everything else far
        tracks[role] = (audio * gain + rng.standard_normal(n).astype(np.float32) * 1e-4).astype(np.float32)
    return tracks

"""A recording's audio as 16 kHz mono float32 on the device clock, and WAV files.

Device clock: t = 0 is the first video frame of the recording (for audio-only files, the first
audio sample). Audio often starts slightly before or after the first frame (encoder priming,
camera start-up); :func:`decode_audio` pads or trims so that sample 0 is exactly device time 0.
Decoding is the container reader's (:mod:`egoinstruct.media.reader`); resampling is PyAV's
(FFmpeg's libswresample), streamed.
"""

from __future__ import annotations

import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from egoinstruct.clock import DeviceClock
from egoinstruct.errors import InputError
from egoinstruct.io import atomic_path
from egoinstruct.media.reader import DecodedAudio, MediaReader, open_recording

__all__ = ["SAMPLE_RATE_HZ", "DecodedAudio", "decode_audio", "place_on_session_clock", "read_wav", "write_wav"]

SAMPLE_RATE_HZ = 16_000


def decode_audio(media: str | Path | Sequence[str | Path] | MediaReader,
                 sample_rate_hz: int = SAMPLE_RATE_HZ) -> DecodedAudio | None:
    """The device audio of ``media`` (a path, chapters, or an open reader), 16 kHz mono by
    default, sample 0 at device time 0; ``None`` when the recording has no audio."""
    reader = media if isinstance(media, MediaReader) else open_recording(media)
    return reader.audio(sample_rate_hz)


def write_wav(path: str | Path, samples: np.ndarray, sample_rate_hz: int = SAMPLE_RATE_HZ) -> None:
    """16-bit PCM mono WAV, written atomically."""
    pcm = (np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0) * 32767.0).round().astype("<i2")
    with atomic_path(path) as tmp, wave.open(str(tmp), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(sample_rate_hz)
        handle.writeframes(pcm.tobytes())


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Samples (float32 in [-1, 1], mono) and rate of a 16-bit PCM WAV written by :func:`write_wav`."""
    try:
        with wave.open(str(path), "rb") as handle:
            if handle.getsampwidth() != 2:
                raise InputError(f"{path}: expected 16-bit PCM WAV, got {8 * handle.getsampwidth()}-bit")
            rate = handle.getframerate()
            channels = handle.getnchannels()
            data = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2")
    except (wave.Error, EOFError) as exc:
        raise InputError(f"{path}: not a readable WAV file ({exc})") from exc
    samples = data.astype(np.float32) / 32767.0
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return samples, rate


def place_on_session_clock(samples: np.ndarray, sample_rate_hz: int, clock: DeviceClock) -> np.ndarray:
    """Resample device-clock audio onto the session clock: sample n is session time n / rate,
    for the whole session (:class:`~egoinstruct.clock.DeviceClock`); uncovered time is silence."""
    n_out = int(round(clock.session_duration_s * sample_rate_hz))
    t_session = np.arange(n_out, dtype=np.float64) / sample_rate_hz
    t_device = clock.to_device(t_session)
    if clock.drift_ppm == 0.0:
        # Pure shift: an integer-sample shift is exact and cheap; sub-sample part by interpolation.
        index = t_device * sample_rate_hz
        whole = np.floor(index[0]) if n_out else 0.0
        frac = float(index[0] - whole) if n_out else 0.0
        if abs(frac) < 1e-6 or abs(frac - 1) < 1e-6:
            start = int(round(index[0])) if n_out else 0
            out = np.zeros(n_out, np.float32)
            lo, hi = max(start, 0), min(start + n_out, len(samples))
            if hi > lo:
                out[lo - start : hi - start] = samples[lo:hi]
            return out
    position = t_device * sample_rate_hz
    out = np.interp(position, np.arange(len(samples)), samples, left=0.0, right=0.0).astype(np.float32)
    out[(position < 0) | (position > len(samples) - 1)] = 0.0
    return out

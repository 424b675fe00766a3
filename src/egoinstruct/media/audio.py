"""Decode a recording's audio to 16 kHz mono float32 on the device clock, and write WAVs.

Device clock: t = 0 is the first video frame of the file (for audio-only files, the first audio
sample). Audio streams often start slightly before or after the first frame (encoder priming,
camera start-up); :func:`decode_audio` pads or trims so that sample 0 is exactly device time 0.
Decoding and resampling are done by PyAV (FFmpeg's libswresample), streamed frame by frame.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from egoinstruct.clock import DeviceClock
from egoinstruct.errors import InputError
from egoinstruct.io import atomic_path
from egoinstruct.media.probe import open_media

SAMPLE_RATE_HZ = 16_000


@dataclass
class DecodedAudio:
    """Mono samples on the device clock plus what the original stream looked like."""

    samples: np.ndarray  # float32, [-1, 1], sample 0 at device time 0
    sample_rate_hz: int
    original_rate_hz: int
    original_channels: int
    original_layout: str | None
    original_codec: str
    audio_start_s: float  # where the audio stream began on the device clock (before padding)


def decode_audio(path: str | Path, sample_rate_hz: int = SAMPLE_RATE_HZ) -> DecodedAudio | None:
    """Decode the first audio stream of ``path``; ``None`` when the file has no audio stream."""
    path = Path(path)
    with open_media(path) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        ctx = stream.codec_context
        video_start = 0.0
        if container.streams.video:
            vs = container.streams.video[0]
            if vs.start_time is not None:
                video_start = float(vs.start_time * vs.time_base)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate_hz)
        chunks: list[np.ndarray] = []
        first_time: float | None = None
        try:
            for frame in container.decode(stream):
                if first_time is None and frame.time is not None:
                    first_time = float(frame.time)
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            raise InputError(f"{path}: audio stream cannot be decoded ({exc}); the file is corrupt or truncated") from exc
        samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
        audio_start = (first_time if first_time is not None else 0.0) - video_start
        # Put sample 0 at device time 0: pad with silence if audio starts late, trim if early.
        shift = int(round(audio_start * sample_rate_hz))
        if shift > 0:
            samples = np.concatenate([np.zeros(shift, np.float32), samples])
        elif shift < 0:
            samples = samples[-shift:]
        return DecodedAudio(
            samples=samples,
            sample_rate_hz=sample_rate_hz,
            original_rate_hz=ctx.sample_rate,
            original_channels=ctx.channels,
            original_layout=ctx.layout.name if ctx.layout else None,
            original_codec=ctx.name,
            audio_start_s=audio_start,
        )


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

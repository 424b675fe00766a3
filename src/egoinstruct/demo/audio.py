"""Audio of a demo session: voices, work sounds and noise mixed per recording device.

Contract
--------
Sources live on the session clock as lists of :class:`Placed` clips (mono float32 at the audio
rate): one per speaker (their utterances) and one for work sounds (clicks, creases, scribbles).
:func:`write_device_wavs` mixes them for every device and writes a 16-bit stereo WAV per device
covering exactly that device's recording interval (sample 0 = the device's first video frame):

* a head device hears its wearer at full level and the partner ~10 dB lower, ~3 ms later and a
  little duller (distance); the exo GoPro hears both at a middle level;
* work sounds reach every device (with the delay of their distance);
* each device adds its own low-level pink-ish noise (about -45 dBFS) per channel, and the two
  channels differ slightly in gain and by one sample;
* one gain for all devices (so relative levels between devices stay true), chosen so that no
  device clips.

:func:`speech_envelopes` gives each speaker's loudness over time, which the renderer uses to
open their mouth. Long sessions are written in chunks; only one device's mono mix is in memory.
"""

from __future__ import annotations

import wave
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import butter, lfilter, sosfilt

SPEED_OF_SOUND = 343.0
# Paul Kellet's economy pink-noise filter (b, a) — -3 dB/octave is enough for "room noise".
_PINK_B = np.array([0.049922035, -0.095993537, 0.050612699, -0.004408786])
_PINK_A = np.array([1.0, -2.494956002, 2.017265875, -0.522189400])
NOISE_DBFS = -45.0
PEAK_TARGET = 0.89  # ≈ -1 dBFS


@dataclass(frozen=True)
class Placed:
    start_s: float  # session clock
    samples: np.ndarray  # mono float32


@dataclass(frozen=True)
class SourceMix:
    gain: float
    distance_m: float
    muffled: bool = False  # low-pass for a voice heard from across the table


@dataclass(frozen=True)
class DeviceAudio:
    """How one device hears the sources and which samples it records."""

    name: str
    offset_s: float  # session time of the device's sample 0
    n_samples: int
    sources: Mapping[str, SourceMix]
    channel_gains: tuple[float, float]


def speech_envelopes(
    tracks: Mapping[str, list[Placed]],
    rate: int,
    t_min: float,
    t_max: float,
    env_rate: float = 100.0,
) -> dict[str, tuple[float, np.ndarray]]:
    """Per speaker (t0, loudness at ``env_rate`` normalised so talking is about 0.5–1)."""
    hop = int(rate / env_rate)
    n = int((t_max - t_min) * env_rate) + 2
    out: dict[str, tuple[float, np.ndarray]] = {}
    for role, clips in tracks.items():
        env = np.zeros(n, np.float32)
        for clip in clips:
            frames = len(clip.samples) // hop
            if frames == 0:
                continue
            rms = np.sqrt(np.mean(clip.samples[: frames * hop].reshape(frames, hop) ** 2, axis=1))
            i0 = int(round((clip.start_s - t_min) * env_rate))
            a, b = max(i0, 0), min(i0 + frames, n)
            if b > a:
                env[a:b] = np.maximum(env[a:b], rms[a - i0 : b - i0])
        voiced = env[env > 1e-4]
        ref = float(np.percentile(voiced, 90)) if voiced.size else 1.0
        out[role] = (t_min, np.clip(env / ref, 0.0, 1.0).astype(np.float32))
    return out


def work_sound(kind: str, duration_s: float, rng: np.random.Generator, rate: int) -> np.ndarray:
    """A short synthetic sound of a hand at work (``click``, ``thud``, ``tap``, ``crease``,
    ``rustle``, ``scribble``), mono float32."""

    def decay(length_s: float, tau_s: float) -> tuple[np.ndarray, np.ndarray]:
        t = np.arange(int(length_s * rate)) / rate
        return t, np.exp(-t / tau_s)

    def band_noise(n: int, lo: float, hi: float) -> np.ndarray:
        sos = butter(2, [lo, hi], btype="bandpass", fs=rate, output="sos")
        return sosfilt(sos, rng.normal(0, 1, n))

    if kind in ("click", "tap"):
        freq = rng.uniform(2200, 3500) if kind == "click" else rng.uniform(1200, 1800)
        t, env = decay(0.06, 0.012)
        body = np.sin(2 * np.pi * freq * t) * env + 0.6 * rng.normal(0, 1, len(t)) * np.exp(
            -t / 0.003
        )
        level = 0.35 if kind == "click" else 0.15
    elif kind == "thud":
        t, env = decay(0.15, 0.03)
        body = np.sin(2 * np.pi * rng.uniform(150, 220) * t) * env + 0.4 * rng.normal(
            0, 1, len(t)
        ) * np.exp(-t / 0.005)
        level = 0.4
    elif kind in ("crease", "rustle"):
        length = 0.22 if kind == "crease" else 0.35
        n = int(length * rate)
        t = np.arange(n) / rate
        body = band_noise(n, 1000, 6000) * np.sin(np.pi * t / length) ** 2
        if kind == "rustle":
            body *= 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(8, 14) * t)
        level = 0.12 if kind == "crease" else 0.10
    elif kind == "scribble":
        length = max(duration_s, 0.1)
        n = int(length * rate)
        t = np.arange(n) / rate
        strokes = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(6, 9) * t) ** 2
        body = (
            band_noise(n, 2000, 8000) * strokes * np.minimum(1.0, np.minimum(t, length - t) / 0.02)
        )
        level = 0.05
    else:
        raise ValueError(f"unknown work sound {kind!r}")
    body = body / (np.max(np.abs(body)) + 1e-9)
    return (level * body).astype(np.float32)


def work_track(
    events: list[tuple[float, str, float]], rng: np.random.Generator, rate: int
) -> list[Placed]:
    return [Placed(t, work_sound(kind, dur, rng, rate)) for t, kind, dur in events]


def _muffle(samples: np.ndarray, rate: int) -> np.ndarray:
    b, a = butter(2, 5000.0, fs=rate)
    return lfilter(b, a, samples).astype(np.float32)


class Mixer:
    """Mixes :class:`Placed` sources for devices (see the module docstring)."""

    def __init__(self, sources: Mapping[str, list[Placed]], rate: int) -> None:
        self.sources = sources
        self.rate = rate
        self._muffled: dict[str, list[Placed]] = {}

    def _clips(self, name: str, muffled: bool) -> list[Placed]:
        if not muffled:
            return self.sources[name]
        if name not in self._muffled:
            # repeated sentences share one sample array: filter each distinct array once
            filtered: dict[int, np.ndarray] = {}
            for c in self.sources[name]:
                if id(c.samples) not in filtered:
                    filtered[id(c.samples)] = _muffle(c.samples, self.rate)
            self._muffled[name] = [
                Placed(c.start_s, filtered[id(c.samples)]) for c in self.sources[name]
            ]
        return self._muffled[name]

    def dry_mix(self, device: DeviceAudio) -> np.ndarray:
        """Mono float32 mix of all sources as ``device`` hears them, before gain and noise."""
        out = np.zeros(device.n_samples, np.float32)
        for name, how in device.sources.items():
            delay = how.distance_m / SPEED_OF_SOUND
            for clip in self._clips(name, how.muffled):
                i0 = int(round((clip.start_s + delay - device.offset_s) * self.rate))
                a, b = max(i0, 0), min(i0 + len(clip.samples), device.n_samples)
                if b > a:
                    out[a:b] += how.gain * clip.samples[a - i0 : b - i0]
        return out

    def write_wavs(
        self,
        devices: list[DeviceAudio],
        paths: Mapping[str, Path],
        seeds: Mapping[str, np.random.SeedSequence],
        chunk: int = 1 << 18,
    ) -> float:
        """Write one stereo WAV per device; returns the common gain applied."""
        peak = 0.0
        for d in devices:
            dry = self.dry_mix(d)
            if dry.size:
                peak = max(peak, float(dry.max()), -float(dry.min()))  # no |x| copy of a long array
            del dry
        noise_rms = 10 ** (NOISE_DBFS / 20)
        gain = min(PEAK_TARGET / (peak + 6 * noise_rms), 8.0) if peak > 0 else 1.0
        for device in devices:
            dry = self.dry_mix(device)
            dry *= np.float32(gain)
            rng = np.random.default_rng(seeds[device.name])
            zi = [np.zeros(3), np.zeros(3)]
            # the pink filter's output has about 0.086× the RMS of its white input
            white_scale = noise_rms / 0.086
            gl, gr = device.channel_gains
            with wave.open(str(paths[device.name]), "wb") as wf:
                wf.setnchannels(2)
                wf.setsampwidth(2)
                wf.setframerate(self.rate)
                for start in range(0, device.n_samples, chunk):
                    stop = min(start + chunk, device.n_samples)
                    left = dry[start:stop] * gl
                    # right channel one sample later: the mics sit on either side of the head
                    prev = (
                        dry[start - 1 : stop - 1]
                        if start > 0
                        else np.concatenate([[0.0], dry[: stop - 1]])
                    )
                    right = prev * gr
                    channels = []
                    for c, signal in enumerate((left, right)):
                        white = rng.normal(0.0, white_scale, stop - start)
                        pink, zi[c] = lfilter(_PINK_B, _PINK_A, white, zi=zi[c])
                        channels.append(signal + pink)
                    stereo = np.stack(channels, axis=1)
                    pcm = np.clip(np.round(stereo * 32767.0), -32768, 32767).astype("<i2")
                    wf.writeframes(pcm.tobytes())
            del dry  # before the next device's mix is built: one long array at a time
        return gain

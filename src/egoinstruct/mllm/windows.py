"""Sliding windows over a session: the frames, audio clip and transcript excerpt of each.

A window is ``[t_start, t_end)`` on the session clock. Windows start at ``k · hop_s``
(k = 0, 1, …) and are ``window_s`` long; the last one is the first that reaches the session's
end and is clipped to it, so the windows cover ``[0, duration_s]`` without gaps whenever
``hop_s <= window_s``. Each window carries

* ``frames_per_window`` frames per chosen device from ``frames/{device}.parquet``: for each of
  that many equal sub-intervals, the stored frame nearest to its centre (duplicates dropped;
  a device without frames in the window contributes none);
* the audio of the window from the session-aligned WAV (sample n is t = n / rate), as WAV bytes
  (16-bit PCM mono, the WAV's rate);
* (for video models) each camera's frames as a short H.264 MP4 (:func:`frames_to_mp4`);
* the utterances of the transcript that overlap the window (``t_start, t_end, speaker, role,
  text``), times on the session clock.

The label set (with its descriptions) and the previous window's answer are added by the prompt
(:mod:`egoinstruct.mllm.prompts`), not here.
"""

from __future__ import annotations

import io
import math
import wave
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from egoinstruct.errors import InputError
from egoinstruct.media.audio import read_wav
from egoinstruct.tables import read_table

TRANSCRIPT_COLUMNS = ("t_start", "t_end", "speaker", "role", "text")
_REQUIRED_TRANSCRIPT_COLUMNS = ("t_start", "t_end", "text")
_EPS = 1e-9


@dataclass(frozen=True)
class WindowFrame:
    device: str
    t: float  # session time of the stored frame
    jpeg: bytes


@dataclass(frozen=True)
class Utterance:
    t_start: float
    t_end: float
    speaker: str
    role: str
    text: str


@dataclass(frozen=True)
class Window:
    """Everything a model may be shown about one window (before modality filtering)."""

    session: str
    index: int
    t_start: float
    t_end: float
    frames: tuple[WindowFrame, ...] = ()
    audio_wav: bytes | None = None  # WAV file bytes; None when no audio is available
    audio_rate_hz: int | None = None
    utterances: tuple[Utterance, ...] = field(default_factory=tuple)

    @property
    def duration_s(self) -> float:
        return self.t_end - self.t_start


def window_spans(duration_s: float, window_s: float, hop_s: float) -> list[tuple[float, float]]:
    """``(t_start, t_end)`` of every window of a session of ``duration_s`` seconds."""
    if window_s <= 0 or hop_s <= 0:
        raise InputError(f"mllm.window_s and mllm.hop_s must be positive (got {window_s}, {hop_s})")
    if hop_s > window_s:
        raise InputError(
            f"mllm.hop_s ({hop_s}) is longer than mllm.window_s ({window_s}): parts of the session "
            "would be in no window; use hop_s <= window_s"
        )
    if duration_s <= 0:
        return []
    n = max(0, math.ceil((duration_s - window_s) / hop_s - _EPS)) + 1
    spans = []
    for k in range(n):
        start = k * hop_s
        spans.append((float(start), float(min(start + window_s, duration_s))))
    return spans


def sample_times(t_start: float, t_end: float, n: int) -> np.ndarray:
    """Centres of ``n`` equal sub-intervals of ``[t_start, t_end)``."""
    return t_start + (np.arange(n) + 0.5) * (t_end - t_start) / n


class FrameStore:
    """The frames of one device (``frames/{device}.parquet``), held in memory for lookups."""

    def __init__(self, path: str | Path, device: str):
        table = read_table(path, "frames", columns=["t", "jpeg"])
        order = np.argsort(table.column("t").to_numpy(), kind="stable")
        self.device = device
        self.path = Path(path)
        self.times = table.column("t").to_numpy()[order]
        jpegs = table.column("jpeg").to_pylist()
        self.jpegs = [jpegs[i] for i in order]

    def sample(self, t_start: float, t_end: float, n: int) -> list[WindowFrame]:
        """Up to ``n`` frames inside ``[t_start, t_end)``, nearest to evenly spaced times."""
        lo = int(np.searchsorted(self.times, t_start - _EPS, side="left"))
        hi = int(np.searchsorted(self.times, t_end - _EPS, side="left"))
        if hi <= lo or n <= 0:
            return []
        inside = self.times[lo:hi]
        chosen: list[int] = []
        for target in sample_times(t_start, t_end, n):
            i = lo + int(np.argmin(np.abs(inside - target)))
            if i not in chosen:
                chosen.append(i)
        return [WindowFrame(self.device, float(self.times[i]), self.jpegs[i]) for i in chosen]


class AudioTrack:
    """A session-aligned WAV (sample n is t = n / rate)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.samples, self.rate_hz = read_wav(path)

    def clip_wav(self, t_start: float, t_end: float) -> bytes | None:
        """The samples of ``[t_start, t_end)`` as a 16-bit PCM mono WAV file; None if empty."""
        a = max(0, int(round(t_start * self.rate_hz)))
        b = min(len(self.samples), int(round(t_end * self.rate_hz)))
        if b <= a:
            return None
        return wav_bytes(self.samples[a:b], self.rate_hz)


def wav_bytes(samples: np.ndarray, rate_hz: int) -> bytes:
    """16-bit PCM mono WAV file bytes of float samples in [-1, 1]."""
    pcm = (np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0) * 32767.0).round().astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate_hz)
        handle.writeframes(pcm.tobytes())
    return buffer.getvalue()


def frames_to_mp4(frames: Sequence[WindowFrame], fps: float) -> bytes:
    """The frames (one camera, in time order) as a small H.264 MP4 at ``fps`` (video models)."""
    import av
    import cv2

    images = [cv2.imdecode(np.frombuffer(f.jpeg, np.uint8), cv2.IMREAD_COLOR) for f in frames]
    images = [i for i in images if i is not None]
    if not images:
        raise InputError("no decodable frame for the window's video clip")
    height, width = (d - d % 2 for d in images[0].shape[:2])
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=max(1, int(round(fps))))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for image in images:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[:height, :width]), format="bgr24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def read_transcript(path: str | Path) -> pd.DataFrame:
    """The utterances of a transcript Parquet: ``t_start, t_end, speaker, role, text``.

    Tolerant on purpose (the transcript stage may add columns): only these five are read;
    ``speaker`` and ``role`` default to ``"unknown"`` when absent or null, null text is empty.
    """
    path = Path(path)
    try:
        names = pq.read_schema(path).names
    except FileNotFoundError as exc:
        raise InputError(f"{path}: transcript not found; run the speech stage first") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read the transcript as Parquet ({exc})") from exc
    missing = [c for c in _REQUIRED_TRANSCRIPT_COLUMNS if c not in names]
    if missing:
        raise InputError(
            f"{path}: transcript lacks column(s) {', '.join(missing)}; expected one row per "
            f"utterance with {', '.join(TRANSCRIPT_COLUMNS)} (session clock, s) — rerun the speech stage"
        )
    frame = pq.read_table(path, columns=[c for c in TRANSCRIPT_COLUMNS if c in names]).to_pandas()
    for column in ("speaker", "role"):
        if column not in frame:
            frame[column] = "unknown"
        frame[column] = frame[column].fillna("unknown").astype(str)
    frame["text"] = frame["text"].fillna("").astype(str)
    frame["t_start"] = frame["t_start"].astype("float64")
    frame["t_end"] = frame["t_end"].astype("float64")
    bad = frame.index[~(frame.t_end >= frame.t_start)].tolist()
    if bad:
        raise InputError(f"{path}: row {bad[0]} has t_end < t_start (or a missing time)")
    return frame[list(TRANSCRIPT_COLUMNS)].sort_values(["t_start", "t_end"], kind="stable").reset_index(drop=True)


def excerpt(transcript: pd.DataFrame, t_start: float, t_end: float) -> tuple[Utterance, ...]:
    """Utterances overlapping ``[t_start, t_end)``, in time order."""
    rows = transcript[(transcript.t_end > t_start) & (transcript.t_start < t_end)]
    return tuple(
        Utterance(float(r.t_start), float(r.t_end), str(r.speaker), str(r.role), str(r.text))
        for r in rows.itertuples(index=False)
    )


def resolve_devices(spec: Sequence[str], device_roles: Mapping[str, str], reference: str) -> list[str]:
    """Devices named by ``spec`` among ``device_roles`` (device → role), in spec order.

    Each entry is ``reference`` (the session's reference device), a role (``instructor``,
    ``learner``, ``exo``: every device with that role) or a device id. Entries that match no
    device of this session are skipped (not every session has every camera).
    """
    out: list[str] = []
    for entry in spec:
        if entry == "reference":
            matches = [reference] if reference in device_roles else []
        elif entry in device_roles:
            matches = [entry]
        else:
            matches = [d for d, role in device_roles.items() if role == entry]
        out.extend(d for d in matches if d not in out)
    return out


@dataclass
class SessionMedia:
    """The loaded inputs of one session: frame stores per device, audio, transcript."""

    session: str
    duration_s: float
    frames: dict[str, FrameStore]
    audio: AudioTrack | None
    transcript: pd.DataFrame

    @classmethod
    def load(
        cls,
        session: str,
        duration_s: float,
        frames: Mapping[str, str | Path],
        audio: str | Path | None,
        transcript: str | Path | None,
    ) -> SessionMedia:
        stores = {device: FrameStore(path, device) for device, path in frames.items()}
        track = AudioTrack(audio) if audio else None
        table = read_transcript(transcript) if transcript else pd.DataFrame(columns=list(TRANSCRIPT_COLUMNS))
        return cls(session, float(duration_s), stores, track, table)

    def windows(self, window_s: float, hop_s: float, frames_per_window: int) -> Iterator[Window]:
        for index, (t0, t1) in enumerate(window_spans(self.duration_s, window_s, hop_s)):
            frames = tuple(f for store in self.frames.values() for f in store.sample(t0, t1, frames_per_window))
            audio = self.audio.clip_wav(t0, t1) if self.audio is not None else None
            yield Window(
                session=self.session,
                index=index,
                t_start=t0,
                t_end=t1,
                frames=frames,
                audio_wav=audio,
                audio_rate_hz=self.audio.rate_hz if self.audio is not None and audio else None,
                utterances=excerpt(self.transcript, t0, t1),
            )

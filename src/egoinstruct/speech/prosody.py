"""Prosody: F0, intensity and voicing per role at 100 Hz, and per-utterance features.

Contract
--------
* :func:`track_features` — Praat (praat-parselmouth) on one 16 kHz track: F0 by
  autocorrelation (``pitch_floor_hz``…``pitch_ceiling_hz``, 10 ms step), intensity in dB
  (Praat's convention: samples taken as pascal, re 2·10⁻⁵ Pa, so a full-scale sine is ≈ 91 dB;
  NaN where the track is digitally silent), both on the session grid ``t = k / 100``.
* :func:`role_tracks` — the ``prosody`` table: per role, its wearer's own device (the voice is
  loudest there; the reference device when the role has no device with audio), ``speaking``
  where a speaker turn of that role is, ``voiced`` = Praat's voicing while the role speaks,
  ``f0_hz`` NaN unless voiced. (The partner's voice is on every track too, ~10 dB lower: outside
  the role's own turns its pitch is not this role's.)
* :func:`utterance_features` — the ``prosody_utterances`` table: per transcript row, mean and
  standard deviation of F0 over its voiced frames, mean intensity (of the dB track), voiced
  share, speaking rate (words per second of the utterance's extent) and the pause since the
  previous utterance ended (negative: it overlaps it; NaN for the first). Features come from the
  utterance's role's track (the reference device's for ``unknown``), with Praat's voicing inside
  the utterance.
* :func:`egemaps_tracks` — optional: openSMILE's eGeMAPSv02 low-level descriptors per role
  (10 ms frames, ``t`` = frame start).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from egoinstruct.settings.speech import ProsodySettings

RATE_HZ = 100  # prosody track rate (frames per second)
SAMPLE_RATE_HZ = 16_000
_SILENT_DB = -100.0  # Praat reports -300 dB for digital silence


@dataclass
class TrackFeatures:
    t: np.ndarray  # k / RATE_HZ
    f0_hz: np.ndarray  # NaN where Praat finds no voicing
    intensity_db: np.ndarray  # NaN where silent

    @property
    def voiced(self) -> np.ndarray:
        return np.isfinite(self.f0_hz)


def grid(duration_s: float) -> np.ndarray:
    return np.arange(int(math.ceil(duration_s * RATE_HZ - 1e-9)), dtype=np.float64) / RATE_HZ


def track_features(samples: np.ndarray, duration_s: float, settings: ProsodySettings,
                   rate_hz: int = SAMPLE_RATE_HZ) -> TrackFeatures:
    """F0 and intensity of one track on the 100 Hz session grid."""
    import parselmouth

    t = grid(duration_s)
    f0 = np.full(len(t), np.nan)
    intensity = np.full(len(t), np.nan)
    samples = np.asarray(samples, dtype=np.float64)
    # Praat needs a few pitch periods of signal; shorter or silent tracks have no features.
    if samples.size < int(3 * rate_hz / settings.pitch_floor_hz) or not np.any(samples):
        return TrackFeatures(t, f0, intensity)
    sound = parselmouth.Sound(samples, sampling_frequency=rate_hz)
    pitch = sound.to_pitch_ac(time_step=1.0 / RATE_HZ, pitch_floor=settings.pitch_floor_hz,
                              pitch_ceiling=settings.pitch_ceiling_hz)
    frequency = pitch.selected_array["frequency"]
    if len(frequency):
        x0 = pitch.xs()[0]
        index = np.rint((t - x0) * RATE_HZ).astype(int)
        inside = (index >= 0) & (index < len(frequency))
        values = np.where(inside, frequency[np.clip(index, 0, len(frequency) - 1)], 0.0)
        f0 = np.where(values > 0, values, np.nan)
    level = sound.to_intensity(minimum_pitch=settings.pitch_floor_hz, time_step=1.0 / RATE_HZ, subtract_mean=False)
    xs, db = level.xs(), level.values[0]
    if len(xs):
        db = np.where(db > _SILENT_DB, db, np.nan)
        intensity = np.interp(t, xs, db, left=np.nan, right=np.nan)
    return TrackFeatures(t, f0, intensity)


def span_mask(t: np.ndarray, spans: list[tuple[float, float]]) -> np.ndarray:
    mask = np.zeros(len(t), dtype=bool)
    for start, end in spans:
        mask[np.searchsorted(t, start, "left"):np.searchsorted(t, end, "left")] = True
    return mask


def role_tracks(features: dict[str, TrackFeatures], turns: pd.DataFrame) -> pa.Table:
    """The ``prosody`` table from each role's track features and the speaker turns."""
    from egoinstruct.tables import PROSODY_SCHEMA

    columns: dict[str, list[np.ndarray]] = {name: [] for name in PROSODY_SCHEMA.names}
    for role, f in features.items():
        own = turns[turns.role == role]
        speaking = span_mask(f.t, list(zip(own.t_start, own.t_end, strict=True)))
        voiced = f.voiced & speaking
        columns["t"].append(f.t)
        columns["role"].append(np.full(len(f.t), role, dtype=object))
        columns["f0_hz"].append(np.where(voiced, f.f0_hz, np.nan))
        columns["intensity_db"].append(f.intensity_db)
        columns["voiced"].append(voiced)
        columns["speaking"].append(speaking)
    return _table(columns, PROSODY_SCHEMA)


def _table(columns: dict[str, list[np.ndarray]], schema: pa.Schema) -> pa.Table:
    """Arrow table from per-part numpy columns; NaN stays NaN (pandas conversion would make it null)."""
    arrays = []
    for field_ in schema:
        parts = columns[field_.name]
        values = np.concatenate(parts) if parts else np.array([], dtype=object if pa.types.is_string(field_.type) else None)
        arrays.append(pa.array(values, type=field_.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def utterance_features(transcript: pd.DataFrame, features: dict[str, TrackFeatures],
                       devices: dict[str, str]) -> pa.Table:
    """The ``prosody_utterances`` table (``features``/``devices`` keyed by role, plus ``unknown``)."""
    from egoinstruct.tables import PROSODY_UTTERANCES_SCHEMA

    rows: dict[str, list[Any]] = {name: [] for name in PROSODY_UTTERANCES_SCHEMA.names}
    previous_end = math.nan
    for index, u in enumerate(transcript.itertuples()):
        role = u.role if u.role in features else "unknown"
        f = features.get(role)
        duration = max(u.t_end - u.t_start, 1e-9)
        if f is not None:
            inside = (f.t >= u.t_start) & (f.t < u.t_end)
            f0 = f.f0_hz[inside & f.voiced]
            level = f.intensity_db[inside]
            frames = int(inside.sum())
        else:
            f0, level, frames = np.array([]), np.array([]), 0
        rows["utterance"].append(index)
        rows["t_start"].append(u.t_start)
        rows["t_end"].append(u.t_end)
        rows["speaker"].append(u.speaker)
        rows["role"].append(u.role)
        rows["source_device"].append(devices.get(role, ""))
        rows["n_words"].append(len(u.words))
        rows["f0_mean_hz"].append(float(np.mean(f0)) if len(f0) else math.nan)
        rows["f0_std_hz"].append(float(np.std(f0, ddof=1)) if len(f0) > 1 else math.nan)
        rows["intensity_mean_db"].append(float(np.nanmean(level)) if np.isfinite(level).any() else math.nan)
        rows["voiced_share"].append(len(f0) / frames if frames else math.nan)
        rows["speaking_rate_wps"].append(len(u.words) / duration)
        rows["pause_before_s"].append(u.t_start - previous_end)
        previous_end = u.t_end if math.isnan(previous_end) else max(previous_end, u.t_end)
    return pa.Table.from_pydict(rows, schema=PROSODY_UTTERANCES_SCHEMA)


def egemaps_tracks(tracks: dict[str, np.ndarray], duration_s: float, rate_hz: int = SAMPLE_RATE_HZ) -> pa.Table:
    """openSMILE eGeMAPSv02 low-level descriptors per role on the 100 Hz grid (NaN outside)."""
    import opensmile

    from egoinstruct.tables import EGEMAPS_LLD, EGEMAPS_SCHEMA

    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.LowLevelDescriptors)
    t = grid(duration_s)
    columns: dict[str, list[np.ndarray]] = {name: [] for name in EGEMAPS_SCHEMA.names}
    for role, samples in tracks.items():
        values = np.full((len(t), len(EGEMAPS_LLD)), np.nan)
        if np.any(samples):
            lld = smile.process_signal(np.asarray(samples, dtype=np.float32), rate_hz)
            starts = lld.index.get_level_values("start").total_seconds().to_numpy()
            index = np.rint(starts * RATE_HZ).astype(int)
            ok = (index >= 0) & (index < len(t))
            values[index[ok]] = lld[EGEMAPS_LLD].to_numpy(dtype=np.float64)[ok]
        columns["t"].append(t)
        columns["role"].append(np.full(len(t), role, dtype=object))
        for i, name in enumerate(EGEMAPS_LLD):
            columns[name].append(values[:, i])
    return _table(columns, EGEMAPS_SCHEMA)


def plot_speech(path: str, turns: pd.DataFrame, transcript: pd.DataFrame, prosody: pd.DataFrame, title: str) -> None:
    """Speaker/role timeline (turns, utterances) above each role's F0."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"instructor": "tab:blue", "learner": "tab:orange", "unknown": "tab:gray"}
    rows = ["instructor", "learner", "unknown"]
    end = max([0.0, *turns.t_end.tolist(), *transcript.t_end.tolist(), *prosody.t.tolist()])
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 4.6), sharex=True,
                                      gridspec_kw={"height_ratios": [1.2, 2]})
    for i, role in enumerate(rows):
        spans = turns[turns.role == role]
        top.broken_barh(list(zip(spans.t_start, spans.t_end - spans.t_start, strict=True)), (i - 0.4, 0.35),
                        color=colours[role], alpha=0.45)
        utts = transcript[transcript.role == role]
        top.broken_barh(list(zip(utts.t_start, utts.t_end - utts.t_start, strict=True)), (i + 0.02, 0.35),
                        color=colours[role])
    top.set_yticks(range(len(rows)), rows)
    top.set_ylim(-0.6, len(rows) - 0.4)
    top.invert_yaxis()
    top.set_title(f"{title}: speaker turns (light) and transcribed utterances (dark) by role")
    for role, part in prosody.groupby("role"):
        bottom.plot(part.t, part.f0_hz, ".", ms=1.5, color=colours.get(role, "k"), label=f"{role} F0")
    bottom.set_ylabel("F0 (Hz)")
    bottom.set_xlabel("session time (s)")
    bottom.set_xlim(0, max(end, 1.0))
    if not prosody.empty and np.isfinite(prosody.f0_hz).any():
        bottom.legend(loc="upper right", markerscale=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def prosody_devices(audio: Any) -> dict[str, str]:
    """Track used per role (and for ``unknown``): the wearer's own device when it has audio,
    else the reference device (or the first device with audio)."""
    from egoinstruct.speech.roles import ROLES, has_audio

    audible = [d for d, t in audio.tracks.items() if has_audio(t)]
    if not audible:
        return {}
    fallback = audio.reference if audio.reference in audible else audible[0]
    wearers = audio.wearer_devices()
    devices = {role: wearers[role] if wearers.get(role) in audible else fallback for role in ROLES}
    devices["unknown"] = fallback
    return devices


def session_prosody(audio: Any, transcript: pd.DataFrame, turns: pd.DataFrame,
                    settings: ProsodySettings) -> tuple[pa.Table, pa.Table, dict[str, str]]:
    """(``prosody``, ``prosody_utterances``, role -> device) for one session (:class:`SessionAudio`)."""
    devices = prosody_devices(audio)
    cache: dict[str, TrackFeatures] = {}
    for device in dict.fromkeys(devices.values()):
        cache[device] = track_features(audio.tracks[device], audio.duration_s, settings, audio.rate_hz)
    by_role = {role: cache[device] for role, device in devices.items()}
    tracks = role_tracks({role: f for role, f in by_role.items() if role != "unknown"}, turns)
    return tracks, utterance_features(transcript, by_role, devices), devices

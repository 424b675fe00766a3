"""Two-wearer diarization: who speaks, frame by frame, from the two head-worn microphones.

Contract
--------
:func:`level_diarize` takes the session-aligned 16 kHz tracks of both wearers (role → samples,
each person's own head-worn device), the speech regions (union of the VAD regions of both
tracks) and the ``speech.level_diarizer`` / ``speech.roles`` settings, and returns a
:class:`LevelDiarization`: speaker turns that are already instructor / learner (or another
person, role ``unknown``), one :class:`~egoinstruct.speech.roles.RoleDecision` per speaker, and
the evidence (shares of speech decided by level, by voice, overlap, other, device off, clipped;
median level difference per role; each device's own-voice level).

Why levels: a wearer's mouth is a few centimetres from their own microphone and about a metre
from the partner's, so their voice is ~10 dB louder on their own device — for any two voices,
however alike. Per ``frame_s`` frame (speech band 100–4000 Hz, power averaged over
``smooth_s``):

1. a frame is *active* when a device is ``active_db`` above its noise floor in that frame
   (unsmoothed: pauses between words and the silence around a turn are not speech), *clipped* when either track reaches ``clip_level`` (a clipped level
   difference is compressed: it does not decide), and a device is *off* where its track is
   digital silence;
2. each device's own-voice level is the median level of the frames it is ``min_difference_db``
   louder than the other; a device is *near-field* in a frame when within ``near_field_db`` of
   that level (a device without such frames never heard its wearer: reported);
3. a frame is the instructor's / learner's when that device is ``min_difference_db`` louder and
   near-field; both devices near-field with levels alike: overlap (both speak); near-field on
   neither: another person; one device off: the other device's wearer when within half of
   ``near_field_db`` of its own-voice level (level is then the only cue), else undecided — never
   the partner of the device that is on by default;
4. runs of speech shorter than ``min_turn_s`` join their longer neighbour (hysteresis against
   flicker; pauses stay pauses);
   undecided runs go to the wearer whose voice (resemblyzer centroid of the level-decided speech,
   on the sum of both tracks) they resemble by ``roles.min_similarity_margin``; what that leaves
   undecided joins the speech it touches when shorter than half a second (too short for a voice
   embedding) and both devices were recording, else goes to the other-person speaker; a speaker's turns closer than
   ``fill_gap_s`` are joined.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.ndimage import uniform_filter1d

from egoinstruct.errors import InputError
from egoinstruct.settings.speech import LevelDiarizerSettings, RoleSettings
from egoinstruct.speech.diarize import (
    Turn,
    absorb_short_runs,
    fill_gaps,
    label_runs,
    speaker_centroids,
)
from egoinstruct.speech.embeddings import cosine, track_mel, window_embeddings
from egoinstruct.speech.roles import DIGITAL_SILENCE, ROLES, UNKNOWN, RoleDecision, band_limited

SAMPLE_RATE_HZ = 16_000
PAUSE, INSTRUCTOR, LEARNER, BOTH, OTHER, UNDECIDED = range(6)
_ROLE_LABEL = {"instructor": INSTRUCTOR, "learner": LEARNER}
_MIN_OWN_VOICE_S = 0.5  # own-voice level needs at least this much clearly own speech
_VOICE_MIN_S = 0.5  # resemblyzer embeddings of shorter pieces do not tell similar voices apart


@dataclass
class LevelFrames:
    """Per-frame analysis of the two wearers' tracks (see the module docstring, steps 1–3)."""

    frame_s: float
    levels: dict[str, np.ndarray]  # role -> dB (NaN: device off)
    clipped: np.ndarray
    active: np.ndarray
    own_voice_db: dict[str, float | None]  # role -> own-voice level; None: never near-field
    labels: np.ndarray  # PAUSE … UNDECIDED before smoothing

    @property
    def difference_db(self) -> np.ndarray:
        return self.levels["instructor"] - self.levels["learner"]


@dataclass
class LevelDiarization:
    turns: list[Turn]
    decisions: dict[str, RoleDecision]
    evidence: dict[str, Any]
    frames: LevelFrames
    seconds: float = 0.0
    centroids: dict[str, np.ndarray] = field(default_factory=dict)


def _frame_power(samples: np.ndarray, n_frames: int, hop: int) -> np.ndarray:
    padded = np.zeros(n_frames * hop, np.float64)
    padded[:min(len(samples), len(padded))] = samples[:len(padded)]
    return np.mean(np.square(padded.reshape(n_frames, hop)), axis=1)


def _frame_peak(samples: np.ndarray, n_frames: int, hop: int) -> np.ndarray:
    padded = np.zeros(n_frames * hop, np.float32)
    padded[:min(len(samples), len(padded))] = np.abs(samples[:len(padded)])
    return padded.reshape(n_frames, hop).max(axis=1)


def _in_regions(n_frames: int, frame_s: float, regions: list[tuple[float, float]]) -> np.ndarray:
    mask = np.zeros(n_frames, bool)
    for start, end in regions:
        mask[max(0, int(round(start / frame_s))):min(n_frames, int(round(end / frame_s)))] = True
    return mask


def level_frames(tracks: dict[str, np.ndarray], regions: list[tuple[float, float]],
                 settings: LevelDiarizerSettings, rate_hz: int = SAMPLE_RATE_HZ) -> LevelFrames:
    """Levels, activity, clipping, own-voice levels and frame labels (steps 1–3)."""
    if set(tracks) != set(ROLES):
        raise InputError(f"level diarization needs the tracks of both wearers ({', '.join(ROLES)}), "
                         f"got {', '.join(sorted(tracks)) or 'none'}")
    hop = max(1, int(round(settings.frame_s * rate_hz)))
    frame_s = hop / rate_hz
    n_frames = int(np.ceil(max(len(t) for t in tracks.values()) / hop))
    width = max(1, int(round(settings.smooth_s / frame_s)))
    levels, raw_levels, clipped = {}, {}, np.zeros(n_frames, bool)
    for role in ROLES:
        raw = np.asarray(tracks[role], dtype=np.float32)
        power = _frame_power(band_limited(raw, rate_hz), n_frames, hop)
        off = _frame_power(raw, n_frames, hop) <= DIGITAL_SILENCE  # digital silence: not recording
        smooth = uniform_filter1d(power, width, mode="nearest")
        level = 10.0 * np.log10(np.maximum(smooth, 1e-20))
        level[off] = np.nan
        levels[role] = level
        raw_levels[role] = np.where(off, np.nan, 10.0 * np.log10(np.maximum(power, 1e-20)))
        clipped |= _frame_peak(raw, n_frames, hop) >= settings.clip_level
    clipped = uniform_filter1d(clipped.astype(np.float32), width, mode="nearest") > 0
    speech = _in_regions(n_frames, frame_s, regions)
    active = np.zeros(n_frames, bool)
    for role in ROLES:
        level = raw_levels[role]  # unsmoothed: a turn must not spread into the silence around it
        quiet = np.isfinite(level) & ~speech
        pool = level[quiet] if quiet.sum() * frame_s >= 1.0 else level[np.isfinite(level)]
        if pool.size:
            floor = float(np.percentile(pool, 10 if quiet.sum() * frame_s >= 1.0 else 5))
            active |= np.nan_to_num(level, nan=-np.inf) >= floor + settings.active_db
    active &= speech

    difference = levels["instructor"] - levels["learner"]
    usable = active & ~clipped & np.isfinite(difference)
    own_voice: dict[str, float | None] = {}
    for role, sign in (("instructor", 1.0), ("learner", -1.0)):
        own = usable & (sign * difference >= settings.min_difference_db)
        own_voice[role] = float(np.median(levels[role][own])) if own.sum() * frame_s >= _MIN_OWN_VOICE_S else None
    near = {}
    for role in ROLES:
        ref = own_voice[role]
        level = np.nan_to_num(levels[role], nan=-np.inf)
        near[role] = level >= ref - settings.near_field_db if ref is not None else np.zeros(n_frames, bool)

    labels = np.full(n_frames, PAUSE, np.int8)
    labels[active] = UNDECIDED
    labels[usable & (difference >= settings.min_difference_db) & near["instructor"]] = INSTRUCTOR
    labels[usable & (difference <= -settings.min_difference_db) & near["learner"]] = LEARNER
    alike = usable & (np.abs(difference) < settings.min_difference_db)
    labels[alike & near["instructor"] & near["learner"]] = BOTH
    # Far from both wearers, a voice reaches both devices alike and below either's own voice.
    labels[alike & ~near["instructor"] & ~near["learner"]] = OTHER
    for role, other in (("instructor", "learner"), ("learner", "instructor")):
        # The partner's device is off: the device that is on still tells its own wearer, by its
        # level alone — so within half the margin (the partner is ~10 dB down, not 20).
        alone = active & ~clipped & np.isfinite(levels[role]) & ~np.isfinite(levels[other])
        ref = own_voice[role]
        if ref is not None:
            close = np.nan_to_num(levels[role], nan=-np.inf) >= ref - 0.5 * settings.near_field_db
            labels[alone & close] = _ROLE_LABEL[role]
    return LevelFrames(frame_s, levels, clipped, active, own_voice, labels)


def _smoothed_runs(labels: np.ndarray, regions: list[tuple[float, float]], frame_s: float,
                   min_turn_s: float) -> list[tuple[int, int, int]]:
    """(label, first frame, last frame + 1) runs inside each region, pauses included; short runs
    of speech take their longer neighbour's label. Pauses neither absorb nor are absorbed, so a
    turn does not grow into the silence at a region's ends (see :func:`_fill_pauses`)."""
    out = []
    min_frames = int(round(min_turn_s / frame_s))
    for start, end in regions:
        a = max(0, int(round(start / frame_s)))
        b = min(len(labels), max(int(round(end / frame_s)), a + 1))
        index = a + np.flatnonzero(labels[a:b] != PAUSE)
        if index.size == 0:
            continue
        squeezed = labels[index].copy()
        for label, first, last in absorb_short_runs(label_runs(squeezed), min_frames):
            squeezed[first:last] = label
        relabelled = np.full(b - a, PAUSE, labels.dtype)
        relabelled[index - a] = squeezed
        trimmed = label_runs(relabelled[index[0] - a:index[-1] - a + 1])
        out.extend((label, index[0] + first, index[0] + last) for label, first, last in trimmed)
    return out


def _fill_pauses(runs: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Speech runs only: a pause inside a region (the VAD heard speech across it) between two
    runs of one label becomes part of them; other pauses are dropped."""
    out: list[tuple[int, int, int]] = []
    for i, (label, first, last) in enumerate(runs):
        if label == PAUSE:
            before, after = runs[i - 1] if i else None, runs[i + 1] if i + 1 < len(runs) else None
            if before and after and before[0] == after[0] and before[2] == first and after[1] == last:
                out[-1] = (before[0], out[-1][1], last)
            continue
        if out and out[-1][0] == label and out[-1][2] == first:
            out[-1] = (label, out[-1][1], last)
        else:
            out.append((label, first, last))
    return out


def _tie_break(runs: list[tuple[int, int, int]], tracks: dict[str, np.ndarray], frame_s: float,
               margin: float) -> tuple[list[tuple[int, int, int]], dict[str, np.ndarray]]:
    """Undecided runs → the wearer whose level-decided voice they resemble, else OTHER."""
    if not any(label == UNDECIDED for label, _, _ in runs):
        return runs, {}
    decided = [Turn(a * frame_s, b * frame_s, role) for label, a, b in runs for role in ROLES
               if label == _ROLE_LABEL[role]]
    n = max(len(t) for t in tracks.values())
    mix = np.zeros(n, np.float32)
    for track in tracks.values():
        mix[:len(track)] += track
    mel = track_mel(mix)
    centroids = speaker_centroids(mel, decided) if decided else {}
    undecided = [(a, b) for label, a, b in runs if label == UNDECIDED]
    embeddings = window_embeddings(mel, [(a * frame_s, b * frame_s) for a, b in undecided])
    chosen = {}
    for (a, b), embedding in zip(undecided, embeddings, strict=True):
        sims = {role: cosine(embedding, c) for role, c in centroids.items()}
        ranked = sorted(sims, key=lambda r: sims[r], reverse=True)
        best_gap = sims[ranked[0]] - (sims[ranked[1]] if len(ranked) > 1 else 0.0) if ranked else 0.0
        chosen[(a, b)] = _ROLE_LABEL[ranked[0]] if ranked and best_gap >= margin else UNDECIDED
    return [(chosen[(a, b)] if label == UNDECIDED else label, a, b) for label, a, b in runs], centroids


def _settle(runs: list[tuple[int, int, int]], frame_s: float, device_off: np.ndarray) -> list[tuple[int, int, int]]:
    """Runs neither level nor voice decided: a short one (too short for a voice embedding to
    tell) that touches speech, with both devices recording, takes its longer touching
    neighbour's label; the rest are another person's (never a wearer's by default — with one
    device off, the partner's far-field voice must not be folded into the wearer's turn)."""
    out = list(runs)
    for i, (label, a, b) in enumerate(runs):
        if label != UNDECIDED:
            continue
        touching = [runs[j] for j in (i - 1, i + 1) if 0 <= j < len(runs)
                    and runs[j][0] not in (PAUSE, UNDECIDED) and (runs[j][2] == a or runs[j][1] == b)]
        short = (b - a) * frame_s < _VOICE_MIN_S and not device_off[a:b].any()
        out[i] = (max(touching, key=lambda r: r[2] - r[1])[0] if short and touching else OTHER, a, b)
    return out


def level_diarize(tracks: dict[str, np.ndarray], regions: list[tuple[float, float]],
                  settings: LevelDiarizerSettings, roles: RoleSettings,
                  rate_hz: int = SAMPLE_RATE_HZ) -> LevelDiarization:
    """Speaker turns with roles from the two wearers' tracks (see the module docstring)."""
    started = time.perf_counter()
    frames = level_frames(tracks, regions, settings, rate_hz)
    fs = frames.frame_s
    runs = _smoothed_runs(frames.labels, regions, fs, settings.min_turn_s)
    undecided_frames = sum(b - a for label, a, b in runs if label == UNDECIDED)
    runs, centroids = _tie_break(runs, tracks, fs, roles.min_similarity_margin)
    unresolved_frames = sum(b - a for label, a, b in runs if label == UNDECIDED)
    runs = _settle(runs, fs, ~np.isfinite(frames.difference_db))
    runs = _fill_pauses(runs)
    by_speaker: dict[str, list[Turn]] = {"instructor": [], "learner": [], "other": []}
    for label, a, b in runs:
        if label in (INSTRUCTOR, BOTH):
            by_speaker["instructor"].append(Turn(a * fs, b * fs, "instructor"))
        if label in (LEARNER, BOTH):
            by_speaker["learner"].append(Turn(a * fs, b * fs, "learner"))
        if label == OTHER:
            by_speaker["other"].append(Turn(a * fs, b * fs, "other"))
    joined = sorted((t for turns in by_speaker.values() for t in fill_gaps(turns, settings.fill_gap_s)),
                    key=lambda t: (t.start, t.end))
    names: dict[str, str] = {}
    for turn in joined:
        names.setdefault(turn.speaker, f"SPEAKER_{len(names):02d}")
    turns = [Turn(t.start, t.end, names[t.speaker]) for t in joined]

    labels, active, difference = frames.labels, frames.active, frames.difference_db
    n_active = int(active.sum())

    def share(count: int) -> float:
        return float(count) / n_active if n_active else 0.0

    median_difference = {}
    for role in ROLES:
        own = labels == _ROLE_LABEL[role]
        finite = own & np.isfinite(difference)
        median_difference[role] = float(np.median(difference[finite])) if finite.any() else None
    evidence = {
        "frame_s": fs,
        "active_speech_s": n_active * fs,
        "decided_by_level": share(np.isin(labels, (INSTRUCTOR, LEARNER, BOTH, OTHER)).sum()),
        "decided_by_voice": share(undecided_frames - unresolved_frames),
        "undecided": share(unresolved_frames),
        "overlap": share((labels == BOTH).sum()),
        "other_person": share((labels == OTHER).sum()),
        "device_off": share((active & ~np.isfinite(difference)).sum()),
        "clipped": share((active & frames.clipped).sum()),
        "median_level_difference_db": median_difference,
        "own_voice_level_db": frames.own_voice_db,
        "near_field_s": {role: float((labels == _ROLE_LABEL[role]).sum() + (labels == BOTH).sum()) * fs
                         for role in ROLES},
    }
    decisions = {}
    for speaker, name in names.items():
        role = speaker if speaker in ROLES else UNKNOWN
        value = median_difference.get(role)
        reason = (f"{abs(value):.1f} dB louder on the {role}'s own device (median over its frames)"
                  if role in ROLES and value is not None else
                  "near-field on the instructor's device and the learner's in overlap only" if role in ROLES else
                  "near-field on neither wearer's device, or undecided by level and voice: another person")
        decisions[name] = RoleDecision(name, role, "level", float("nan") if value is None else value, reason)
    return LevelDiarization(turns, decisions, evidence, frames, time.perf_counter() - started,
                            {names[s]: c for s, c in centroids.items() if s in names})


def never_near_field(frames: LevelFrames) -> list[str]:
    """Wearers whose device has audio but never heard its wearer near-field."""
    return [role for role in ROLES
            if frames.own_voice_db[role] is None and np.isfinite(frames.levels[role]).any()]

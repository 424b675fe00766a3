"""Speaker → role: which diarized speaker is the instructor and which the learner.

Contract
--------
:func:`assign_roles` takes the speaker turns, each speaker's voice centroid, and the
session-aligned track of each wearer (role → samples, the wearer's own head-worn device), and
returns one :class:`RoleDecision` per speaker: ``instructor``, ``learner`` or ``unknown``, the
method that decided (``energy_ratio``, ``embedding``, ``none``), its evidence and a one-line
reason. Two speakers may get the same role (e.g. pyannote told to find two speakers in a
session where one person talked); a role without a speaker is fine.

1. **Energy ratio** (both wearers' tracks have audio): in egocentric recordings a wearer's own
   voice is much louder on their own device than on the partner's (mouth a few cm from the
   microphone versus a metre away: about 10 dB). For each turn, the level difference
   ``L_instructor − L_learner`` (dB, speech band 100–4000 Hz) of the two tracks is computed;
   a speaker's evidence is the duration-weighted median over their turns, and
   ``|evidence| ≥ min_ratio_db`` decides (positive: instructor). Turns where either device was
   not recording (digital silence) do not vote.
2. **Embedding similarity** (only one wearer's track has audio, or the ratio is undecided): a
   profile of each available wearer's own voice is taken from the loudest speech on their own
   device (speech windows within ``profile_db`` of the 90th-percentile level: the near-field
   voice). A speaker goes to the role whose profile their centroid is most similar to when that
   beats the other profile (or, with one profile, every other speaker) by
   ``min_similarity_margin``; with one profile, the other speakers are the partner. One device,
   one speaker: the speaker is taken to be the wearer when similar to the profile (the profile
   then *is* that voice, so this case is undecidable in principle and reported as such).
3. **unknown** when neither decides (no wearer audio at all, or no margin).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import signal

from egoinstruct.settings.speech import RoleSettings
from egoinstruct.speech.diarize import Turn
from egoinstruct.speech.embeddings import centroid, cosine, track_mel, window_embeddings

ROLES = ("instructor", "learner")
UNKNOWN = "unknown"
SAMPLE_RATE_HZ = 16_000
_BAND_HZ = (100.0, 4000.0)
DIGITAL_SILENCE = 1e-9  # mean square of digital silence (a device that was not recording)

log = logging.getLogger(__name__)


@dataclass
class RoleDecision:
    speaker: str
    role: str  # instructor | learner | unknown
    method: str  # energy_ratio | embedding | none
    evidence: float  # dB (energy_ratio) or similarity margin (embedding); NaN for none
    reason: str


def partner(role: str) -> str:
    return {"instructor": "learner", "learner": "instructor"}.get(role, UNKNOWN)


def band_limited(samples: np.ndarray, rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    sos = signal.butter(4, [_BAND_HZ[0], min(_BAND_HZ[1], 0.45 * rate_hz)], btype="bandpass", fs=rate_hz, output="sos")
    return signal.sosfilt(sos, np.asarray(samples, dtype=np.float64)).astype(np.float32)


def has_audio(samples: np.ndarray | None) -> bool:
    return samples is not None and len(samples) > 0 and bool(np.any(samples))


def level_db(samples: np.ndarray, start: float, end: float, rate_hz: int = SAMPLE_RATE_HZ) -> float:
    """Mean-square level (dB) of ``samples`` in [start, end); NaN for digital silence."""
    piece = samples[max(0, int(start * rate_hz)):max(0, int(end * rate_hz))]
    if piece.size == 0:
        return float("nan")
    power = float(np.mean(np.square(piece, dtype=np.float64)))
    return 10.0 * np.log10(power) if power > DIGITAL_SILENCE else float("nan")


def energy_ratio_db(filtered: dict[str, np.ndarray], start: float, end: float,
                    rate_hz: int = SAMPLE_RATE_HZ) -> float:
    """``L_instructor − L_learner`` in [start, end) (NaN unless both tracks have signal there)."""
    if not all(role in filtered for role in ROLES):
        return float("nan")
    return level_db(filtered["instructor"], start, end, rate_hz) - level_db(filtered["learner"], start, end, rate_hz)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    values, weights = values[order], weights[order]
    cumulative = np.cumsum(weights)
    return float(values[np.searchsorted(cumulative, 0.5 * cumulative[-1])])


def voice_profile(samples: np.ndarray, regions: list[tuple[float, float]], settings: RoleSettings,
                  rate_hz: int = SAMPLE_RATE_HZ, window_s: float = 1.5) -> np.ndarray | None:
    """The wearer's own voice: centroid of the loudest speech windows on their own device."""
    windows = []
    for start, end in regions:
        t = start
        while t < end - 0.3:
            windows.append((t, min(t + window_s, end)))
            t += window_s
    if not windows:
        return None
    filtered = band_limited(samples, rate_hz)
    levels = np.array([level_db(filtered, a, b, rate_hz) for a, b in windows])
    ok = np.isfinite(levels)
    if not ok.any():
        return None
    threshold = np.percentile(levels[ok], 90) - settings.profile_db
    chosen = [w for w, lv, good in zip(windows, levels, ok, strict=True) if good and lv >= threshold]
    embeddings = window_embeddings(track_mel(samples), chosen)
    return centroid(embeddings, np.array([b - a for a, b in chosen]))


def assign_roles(
    turns: list[Turn],
    centroids: dict[str, np.ndarray],
    wearer_tracks: dict[str, np.ndarray],
    settings: RoleSettings,
    wearer_regions: dict[str, list[tuple[float, float]]] | None = None,
    rate_hz: int = SAMPLE_RATE_HZ,
) -> dict[str, RoleDecision]:
    """Role of every speaker in ``turns`` (see the module docstring for the rules)."""
    speakers = list(dict.fromkeys(t.speaker for t in turns))
    audible = {role: track for role, track in wearer_tracks.items() if role in ROLES and has_audio(track)}
    decisions: dict[str, RoleDecision] = {}
    undecided: dict[str, str] = {}

    if len(audible) == 2:
        filtered = {role: band_limited(track, rate_hz) for role, track in audible.items()}
        for speaker in speakers:
            own = [t for t in turns if t.speaker == speaker]
            ratios = np.array([energy_ratio_db(filtered, t.start, t.end, rate_hz) for t in own])
            weights = np.array([t.end - t.start for t in own])
            ok = np.isfinite(ratios) & (weights > 0)
            if not ok.any():
                undecided[speaker] = "no turn of this speaker was recorded by both wearers' devices"
                continue
            median = _weighted_median(ratios[ok], weights[ok])
            if abs(median) >= settings.min_ratio_db:
                role = "instructor" if median > 0 else "learner"
                decisions[speaker] = RoleDecision(
                    speaker, role, "energy_ratio", median,
                    f"{abs(median):.1f} dB louder on the {role}'s device (median over {int(ok.sum())} turns)",
                )
            else:
                undecided[speaker] = f"level difference {median:+.1f} dB is below {settings.min_ratio_db} dB"
    else:
        reason = ("no wearer's device has audio" if not audible else
                  f"only the {next(iter(audible))}'s device has audio")
        undecided = {speaker: reason for speaker in speakers}

    if undecided and audible:
        regions = wearer_regions or {}
        profiles = {}
        for role, track in audible.items():
            profile = voice_profile(track, regions.get(role, []), settings, rate_hz)
            if profile is not None:
                profiles[role] = profile
        decisions.update(_by_embedding(undecided, centroids, profiles, settings))
    for speaker in speakers:
        if speaker not in decisions:
            decisions[speaker] = RoleDecision(speaker, UNKNOWN, "none", float("nan"), undecided.get(speaker, "undecided"))
    for decision in decisions.values():
        log.info("%s -> %s (%s: %s)", decision.speaker, decision.role, decision.method, decision.reason)
    return {speaker: decisions[speaker] for speaker in speakers}


def _by_embedding(undecided: dict[str, str], centroids: dict[str, np.ndarray], profiles: dict[str, np.ndarray],
                  settings: RoleSettings) -> dict[str, RoleDecision]:
    out: dict[str, RoleDecision] = {}
    candidates = [s for s in undecided if s in centroids and np.any(centroids[s])]
    if not profiles or not candidates:
        return out
    margin = settings.min_similarity_margin
    if len(profiles) == 2:
        for speaker in candidates:
            sims = {role: cosine(centroids[speaker], profile) for role, profile in profiles.items()}
            best = max(sims, key=lambda r: sims[r])
            gap = sims[best] - sims[partner(best)]
            if gap >= margin:
                out[speaker] = RoleDecision(speaker, best, "embedding", gap,
                                            f"voice closer to the {best}'s own-device voice by {gap:.3f} "
                                            f"({undecided[speaker]})")
        return out
    role, profile = next(iter(profiles.items()))
    sims = {speaker: cosine(centroids[speaker], profile) for speaker in candidates}
    ranked = sorted(candidates, key=lambda s: sims[s], reverse=True)
    if len(ranked) == 1:
        speaker = ranked[0]
        out[speaker] = RoleDecision(speaker, role, "embedding", float("nan"),
                                    f"the only speaker, heard on the only device with audio (the {role}'s): "
                                    f"taken to be its wearer (similarity {sims[speaker]:.3f})")
        return out
    gap = sims[ranked[0]] - sims[ranked[1]]
    if gap < margin:
        return out
    out[ranked[0]] = RoleDecision(ranked[0], role, "embedding", gap,
                                  f"voice closest to the {role}'s own-device voice (by {gap:.3f}; {undecided[ranked[0]]})")
    for speaker in ranked[1:]:
        out[speaker] = RoleDecision(speaker, partner(role), "embedding", gap,
                                    f"voice unlike the {role}'s own-device voice ({undecided[speaker]})")
    return out

"""Who speaks when: pyannote (through whisperx) when its model is available, else offline.

Contract
--------
:func:`diarize` takes a 16 kHz mono track, its speech regions (:mod:`~egoinstruct.speech.vad`)
and the speaker count known from the session's roles, and returns a :class:`Diarization`:
speaker turns ``(start, end, speaker)`` in time order (pyannote's may overlap; the offline
diarizer gives one speaker at a time), speaker labels ``SPEAKER_00``… in order of first
appearance, each speaker's resemblyzer centroid (for role attribution by voice), the method used
and why.

Methods (``speech.diarization``):

* ``auto`` (and ``level`` for a session without both wearers' audio; the two-wearer level
  diarizer itself is :mod:`~egoinstruct.speech.level`): pyannote when the pipeline is a local
  folder, in the Hugging Face cache, or can be downloaded now (hub reachable and a token in
  ``$hub_token_env``); otherwise — with one logged line that says why — the offline diarizer;
* ``pyannote``: pyannote or stop with a :class:`~egoinstruct.errors.MissingModelError` that says
  how to provide it;
* ``offline``: the offline diarizer, never touching the hub.

pyannote gets the waveform (``{"waveform", "sample_rate"}`` built by whisperx's
``DiarizationPipeline`` from the array), never a path — pyannote-audio 4 decodes files with
torchcodec, which may not load — and the speaker count by keyword (``num_speakers=2`` when the
roles say two people, else ``min_speakers``/``max_speakers``).

Offline diarizer: resemblyzer embeddings of ``window_s`` windows every ``hop_s`` inside the
speech regions, clustered (spectral on cosine affinities, or agglomerative with average linkage)
into the largest allowed number of speakers. A known count (``speech.speakers``, or two people
from the roles) is kept as it is: two real people's voices can be as alike as one person's
(0.85 and more for the real recording in the tests). Only when the count is open (one wearer,
``speech.speakers`` null) are clusters whose centroids are at least ``merge_similarity`` alike
merged, down to the count's minimum (a session in which only one person talked must not be
split in two). Each 10 ms frame of speech takes the label most windows covering it vote for;
turns shorter than ``min_turn_s`` join their neighbour, and a speaker's turns closer than
``fill_gap_s`` are joined (pauses between words are not turn ends).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from egoinstruct.errors import InputError, MissingModelError
from egoinstruct.settings.speech import OfflineDiarizerSettings, SpeechSettings
from egoinstruct.speech.embeddings import centroid, cosine, track_mel, window_embeddings
from egoinstruct.speech.models import resolve_diarization_model

SAMPLE_RATE_HZ = 16_000
METHODS = ("auto", "level", "pyannote", "offline")  # level itself: egoinstruct.speech.level
CLUSTERINGS = ("spectral", "agglomerative")
FRAME_S = 0.01

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpeakerCount:
    """What the roles say about the number of speakers: exact (``num``) or a range."""

    num: int | None = None
    min: int = 1
    max: int = 2

    @property
    def upper(self) -> int:
        return self.num if self.num is not None else self.max

    @property
    def lower(self) -> int:
        return self.num if self.num is not None else self.min

    def keywords(self) -> dict[str, int]:
        """pyannote's keyword arguments."""
        if self.num is not None:
            return {"num_speakers": self.num}
        return {"min_speakers": self.min, "max_speakers": self.max}


@dataclass
class Turn:
    start: float
    end: float
    speaker: str


@dataclass
class Diarization:
    turns: list[Turn]
    method: str  # pyannote | offline | none
    model: str | None
    reason: str
    centroids: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def speakers(self) -> list[str]:
        return list(dict.fromkeys(t.speaker for t in self.turns))


def speaker_count(person_roles: int, configured: int | None = None) -> SpeakerCount:
    """The count passed to the diarizer: ``configured`` if set; two people when the sheet has
    both an instructor and a learner device; otherwise one or two (a partner without a device
    may still talk)."""
    if configured is not None:
        return SpeakerCount(num=configured, min=configured, max=configured)
    if person_roles >= 2:
        return SpeakerCount(num=2, min=2, max=2)
    return SpeakerCount(num=None, min=1, max=2)


class Diarizer:
    """Chooses and loads the diarization method once; :meth:`__call__` runs it on a track."""

    def __init__(self, settings: SpeechSettings) -> None:
        """The method of ``settings.diarization`` (pyannote settings, ``offline_diarizer``)."""
        if settings.diarization not in METHODS:
            raise InputError(f"speech.diarization: {settings.diarization!r} is not one of {', '.join(METHODS)}")
        if settings.offline_diarizer.clustering not in CLUSTERINGS:
            raise InputError(
                f"speech.offline_diarizer.clustering: {settings.offline_diarizer.clustering!r} is not one of "
                f"{', '.join(CLUSTERINGS)}"
            )
        self.settings = settings
        self.pipeline: Any = None
        self.model: str | None = None
        self.reason = "speech.diarization is offline"
        if settings.diarization != "offline":  # level: pyannote or offline where level cannot run
            self._load_pyannote()

    def _load_pyannote(self) -> None:
        s = self.settings
        try:
            source = resolve_diarization_model(s.pyannote_model, s.hub_token_env, s.model_cache_dir)
            from whisperx.diarize import DiarizationPipeline

            self.pipeline = DiarizationPipeline(
                model_name=source.location, token=os.environ.get(s.hub_token_env) or None,
                device=s.asr.device, cache_dir=s.model_cache_dir,
            )
            self.model = source.description
            self.reason = f"pyannote pipeline available ({source.description})"
            log.info("diarization: pyannote %s", source.description)
        except MissingModelError as exc:
            if s.diarization == "pyannote":
                raise
            self.reason = str(exc)
        except Exception as exc:  # hub errors, gated repos (pyannote returns None), load failures
            if s.diarization == "pyannote":
                raise MissingModelError(
                    f"speech.pyannote_model: loading {s.pyannote_model} failed ({exc.__class__.__name__}: "
                    f"{exc}); provide it locally (speech.pyannote_model) or set speech.diarization: auto "
                    f"to fall back to the offline diarizer"
                ) from exc
            self.reason = f"loading the pyannote pipeline failed ({exc.__class__.__name__}: {exc})"
        if self.pipeline is None:
            log.warning("diarization: offline diarizer (silero-vad + resemblyzer + clustering) instead of "
                        "pyannote, because %s", self.reason)

    @property
    def method(self) -> str:
        return "pyannote" if self.pipeline is not None else "offline"

    def __call__(self, samples: np.ndarray, regions: list[tuple[float, float]], count: SpeakerCount,
                 rate_hz: int = SAMPLE_RATE_HZ) -> Diarization:
        if rate_hz != SAMPLE_RATE_HZ:
            raise InputError(f"diarization needs {SAMPLE_RATE_HZ} Hz audio, got {rate_hz} Hz")
        start = time.perf_counter()
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        if not regions:
            return Diarization([], "none", None, "no speech found by the VAD", {}, time.perf_counter() - start)
        mel = track_mel(samples)
        if self.pipeline is not None:
            frame = self.pipeline(samples, **count.keywords())
            turns = [Turn(float(r.start), float(r.end), str(r.speaker)) for r in frame.itertuples()]
            turns = _renamed(sorted(turns, key=lambda t: (t.start, t.end)))
            result = Diarization(turns, "pyannote", self.model, self.reason)
        else:
            turns = offline_turns(mel, regions, count, self.settings.offline_diarizer)
            result = Diarization(turns, "offline", None, self.reason)
        result.centroids = speaker_centroids(mel, result.turns)
        result.seconds = time.perf_counter() - start
        return result


def _renamed(turns: list[Turn]) -> list[Turn]:
    """Labels SPEAKER_00, SPEAKER_01… in order of first appearance."""
    names: dict[str, str] = {}
    for turn in turns:
        names.setdefault(turn.speaker, f"SPEAKER_{len(names):02d}")
    return [Turn(t.start, t.end, names[t.speaker]) for t in turns]


def _windows(regions: list[tuple[float, float]], window_s: float, hop_s: float) -> list[tuple[float, float]]:
    """Analysis windows inside speech regions; a region shorter than a window gets one window
    centred on it (its surroundings are mostly silence, which barely moves the embedding)."""
    windows = []
    for start, end in regions:
        if end - start <= window_s:
            middle = 0.5 * (start + end)
            windows.append((max(0.0, middle - 0.5 * window_s), middle + 0.5 * window_s))
            continue
        n = int(np.floor((end - start - window_s) / hop_s)) + 1
        windows.extend((start + i * hop_s, start + i * hop_s + window_s) for i in range(n))
        if windows[-1][1] < end - 1e-6:
            windows.append((end - window_s, end))
    return windows


def cluster_embeddings(embeddings: np.ndarray, count: SpeakerCount, settings: OfflineDiarizerSettings) -> np.ndarray:
    """Cluster labels 0..k-1 (k ≤ the speaker count), similar clusters merged."""
    n = len(embeddings)
    k = min(count.upper, n)
    if k <= 1:
        return np.zeros(n, dtype=int)
    affinity = np.clip(embeddings @ embeddings.T, 0.0, 1.0)
    if settings.clustering == "spectral":
        from sklearn.cluster import SpectralClustering

        labels = SpectralClustering(n_clusters=k, affinity="precomputed", random_state=0,
                                    assign_labels="cluster_qr").fit_predict(affinity)
    else:
        from sklearn.cluster import AgglomerativeClustering

        labels = AgglomerativeClustering(n_clusters=k, metric="cosine", linkage="average").fit_predict(embeddings)
    if count.num is not None:  # a known count is honoured: similar voices stay apart
        _, dense = np.unique(np.asarray(labels, dtype=int), return_inverse=True)
        return dense
    # An open count is an upper bound: people who are there need not talk.
    return _merge_similar(embeddings, np.asarray(labels, dtype=int), count.min, settings.merge_similarity)


def _merge_similar(embeddings: np.ndarray, labels: np.ndarray, minimum: int, threshold: float) -> np.ndarray:
    labels = labels.copy()
    while True:
        ids = sorted(set(labels.tolist()))
        if len(ids) <= max(1, minimum):
            break
        centres = {i: centroid(embeddings[labels == i]) for i in ids}
        best, pair = -1.0, None
        for x in range(len(ids)):
            for y in range(x + 1, len(ids)):
                sim = cosine(centres[ids[x]], centres[ids[y]])
                if sim > best:
                    best, pair = sim, (ids[x], ids[y])
        if pair is None or best < threshold:
            break
        log.info("offline diarizer: merging two clusters whose voices are %.3f alike (>= %.3f): one speaker",
                 best, threshold)
        labels[labels == pair[1]] = pair[0]
    _, dense = np.unique(labels, return_inverse=True)
    return dense


def offline_turns(mel: np.ndarray, regions: list[tuple[float, float]], count: SpeakerCount,
                  settings: OfflineDiarizerSettings) -> list[Turn]:
    """Speaker turns from embeddings of windows inside the speech regions."""
    windows = _windows(regions, settings.window_s, settings.hop_s)
    if not windows:
        return []
    embeddings = window_embeddings(mel, windows)
    labels = cluster_embeddings(embeddings, count, settings)
    n_labels = int(labels.max()) + 1
    total = max(end for _, end in regions)
    n_frames = int(np.ceil(total / FRAME_S)) + 1
    votes = np.zeros((n_frames, n_labels), np.float32)
    for (start, end), label in zip(windows, labels, strict=True):
        votes[int(start / FRAME_S):int(np.ceil(end / FRAME_S)), label] += 1.0
    turns: list[Turn] = []
    for start, end in regions:
        a, b = int(round(start / FRAME_S)), max(int(round(end / FRAME_S)), int(round(start / FRAME_S)) + 1)
        frame_labels = votes[a:b].argmax(axis=1)
        runs = label_runs(frame_labels)
        runs = absorb_short_runs(runs, int(round(settings.min_turn_s / FRAME_S)))
        for label, first, last in runs:
            turns.append(Turn((a + first) * FRAME_S, min((a + last) * FRAME_S, end), f"c{label}"))
    turns = fill_gaps(sorted(turns, key=lambda t: t.start), settings.fill_gap_s)
    return _renamed(turns)


def label_runs(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """(label, first, last+1) runs of equal labels."""
    runs = []
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            runs.append((int(labels[start]), start, i))
            start = i
    return runs


def absorb_short_runs(runs: list[tuple[int, int, int]], min_frames: int) -> list[tuple[int, int, int]]:
    """Runs shorter than ``min_frames`` take the label of their longer neighbour."""
    runs = list(runs)
    changed = True
    while changed and len(runs) > 1:
        changed = False
        shortest = min(range(len(runs)), key=lambda i: runs[i][2] - runs[i][1])
        label, first, last = runs[shortest]
        if last - first >= min_frames:
            break
        neighbours = [i for i in (shortest - 1, shortest + 1) if 0 <= i < len(runs)]
        target = max(neighbours, key=lambda i: runs[i][2] - runs[i][1])
        t_label = runs[target][0]
        runs[shortest] = (t_label, first, last)
        merged: list[tuple[int, int, int]] = []
        for run in runs:
            if merged and merged[-1][0] == run[0]:
                merged[-1] = (run[0], merged[-1][1], run[2])
            else:
                merged.append(run)
        runs = merged
        changed = True
    return runs


def fill_gaps(turns: list[Turn], gap_s: float) -> list[Turn]:
    out: list[Turn] = []
    for turn in turns:
        if out and out[-1].speaker == turn.speaker and turn.start - out[-1].end <= gap_s:
            out[-1] = Turn(out[-1].start, max(out[-1].end, turn.end), turn.speaker)
        else:
            out.append(Turn(turn.start, turn.end, turn.speaker))
    return out


def speaker_centroids(mel: np.ndarray, turns: list[Turn], window_s: float = 1.5) -> dict[str, np.ndarray]:
    """Each speaker's voice: the centroid of embeddings of (up to ``window_s`` long) pieces of
    their turns, weighted by duration."""
    pieces: list[tuple[float, float]] = []
    owners: list[str] = []
    for turn in turns:
        t = turn.start
        while t < turn.end - 1e-6:
            end = min(t + window_s, turn.end)
            pieces.append((t, end))
            owners.append(turn.speaker)
            t = end
    if not pieces:
        return {}
    embeddings = window_embeddings(mel, pieces)
    weights = np.array([end - start for start, end in pieces])
    owners_arr = np.array(owners)
    return {
        speaker: centroid(embeddings[owners_arr == speaker], weights[owners_arr == speaker])
        for speaker in dict.fromkeys(owners)
    }

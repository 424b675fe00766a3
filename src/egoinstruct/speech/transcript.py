"""Words with speakers → utterances → the ``transcript`` and ``speaker_turns`` tables.

Contract
--------
:func:`assign_word_speakers` gives every word the speaker whose turn overlaps it most
(whisperx's ``assign_word_speakers``, nearest turn when none overlaps); words alignment could not
place in time take their neighbours' speaker. :func:`utterances` groups words in time order into
utterances: a new one starts when the speaker or the source device changes, after a pause longer
than ``max_pause_s``, or after a sentence end (``. ? !`` and their CJK forms) followed by at
least ``sentence_pause_s``. :func:`transcript_table` / :func:`turns_table` build the Arrow tables
(schemas ``TRANSCRIPT_SCHEMA`` / ``SPEAKER_TURNS_SCHEMA`` in :mod:`egoinstruct.tables`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from egoinstruct.settings.speech import UtteranceSettings
from egoinstruct.speech.asr import Word
from egoinstruct.speech.diarize import Turn
from egoinstruct.speech.roles import UNKNOWN, energy_ratio_db

# Languages written without spaces between words (whisperx aligns them per character).
NO_SPACE_LANGUAGES = ("ja", "zh", "yue", "th", "lo", "my", "km")
_SENTENCE_END = (".", "?", "!", "。", "？", "！")


@dataclass
class SourcedWord:
    word: Word
    device: str
    speaker: str | None = None


@dataclass
class Utterance:
    words: list[SourcedWord] = field(default_factory=list)
    speaker: str = UNKNOWN
    device: str = ""

    @property
    def timed(self) -> list[Word]:
        return [w.word for w in self.words if w.word.timed]

    @property
    def t_start(self) -> float:
        return min(w.start for w in self.timed)

    @property
    def t_end(self) -> float:
        return max(w.end for w in self.timed)


def assign_word_speakers(words: list[SourcedWord], turns: list[Turn]) -> None:
    """Set ``speaker`` on every word (in place)."""
    if not words:
        return
    if not turns:
        for w in words:
            w.speaker = None
        return
    from whisperx.diarize import assign_word_speakers as whisperx_assign

    frame = pd.DataFrame({"start": [t.start for t in turns], "end": [t.end for t in turns],
                          "speaker": [t.speaker for t in turns]})
    timed = [w for w in words if w.word.timed]
    result = {"segments": [{"start": w.word.start, "end": w.word.end,
                            "words": [{"word": w.word.word, "start": w.word.start, "end": w.word.end}]}
                           for w in timed]}
    whisperx_assign(frame, result, fill_nearest=True)
    for w, seg in zip(timed, result["segments"], strict=True):
        w.speaker = seg["words"][0].get("speaker", seg.get("speaker"))
    # Untimed words (alignment could not place them) belong with their neighbours.
    last: str | None = None
    for w in words:
        if w.word.timed:
            last = w.speaker
        elif last is not None:
            w.speaker = last
    nxt: str | None = None
    for w in reversed(words):
        if w.word.timed:
            nxt = w.speaker
        elif w.speaker is None:
            w.speaker = nxt


def order_words(words: list[SourcedWord]) -> list[SourcedWord]:
    """Time order; an untimed word keeps its place after the timed word before it."""
    keyed = []
    last = -math.inf
    for index, w in enumerate(words):
        if w.word.timed:
            last = w.word.start
        keyed.append((last, index, w))
    return [w for _, _, w in sorted(keyed, key=lambda k: (k[0], k[1]))]


def utterances(words: list[SourcedWord], settings: UtteranceSettings) -> list[Utterance]:
    """Group words (already in time order, speakers assigned) into utterances."""
    out: list[Utterance] = []
    current: Utterance | None = None
    last_end = -math.inf
    last_text = ""
    for w in words:
        speaker = w.speaker or UNKNOWN
        pause = (w.word.start - last_end) if w.word.timed else 0.0
        new = (
            current is None
            or speaker != current.speaker
            or w.device != current.device
            or pause > settings.max_pause_s
            or (last_text.endswith(_SENTENCE_END) and pause >= settings.sentence_pause_s)
        )
        if new:
            current = Utterance(speaker=speaker, device=w.device)
            out.append(current)
        assert current is not None
        current.words.append(w)
        if w.word.timed:
            last_end = max(last_end, w.word.end) if not new else w.word.end
        last_text = w.word.word
    # An utterance with no timed word cannot be placed: it joins the previous one.
    merged: list[Utterance] = []
    for u in out:
        if not u.timed and merged:
            merged[-1].words.extend(u.words)
        else:
            merged.append(u)
    if merged and not merged[0].timed:
        if len(merged) > 1:
            merged[1].words[:0] = merged[0].words
        merged = merged[1:]
    return merged


def utterance_text(words: list[Word], language: str | None) -> str:
    joiner = "" if (language or "") in NO_SPACE_LANGUAGES else " "
    return joiner.join(w.word for w in words).strip()


def transcript_table(
    utts: list[Utterance],
    roles: dict[str, str],
    language: str | None,
    filtered_tracks: dict[str, np.ndarray] | None = None,
    schema: pa.Schema | None = None,
) -> pa.Table:
    """One row per utterance (see ``TRANSCRIPT_SCHEMA``)."""
    from egoinstruct.tables import TRANSCRIPT_SCHEMA

    rows: dict[str, list[Any]] = {name: [] for name in TRANSCRIPT_SCHEMA.names}
    for u in utts:
        words = [w.word for w in u.words]
        scores = np.array([w.score for w in words], dtype=np.float64)
        rows["t_start"].append(u.t_start)
        rows["t_end"].append(u.t_end)
        rows["speaker"].append(u.speaker)
        rows["role"].append(roles.get(u.speaker, UNKNOWN))
        rows["text"].append(utterance_text(words, language))
        rows["words"].append([{"word": w.word, "t_start": w.start, "t_end": w.end, "score": w.score} for w in words])
        rows["confidence"].append(float(np.nanmean(scores)) if np.isfinite(scores).any() else math.nan)
        rows["source_device"].append(u.device)
        rows["energy_ratio_db"].append(
            energy_ratio_db(filtered_tracks, u.t_start, u.t_end) if filtered_tracks else math.nan
        )
    return pa.Table.from_pydict(rows, schema=schema or TRANSCRIPT_SCHEMA)


def turns_table(turns: list[Turn], roles: dict[str, str], schema: pa.Schema | None = None) -> pa.Table:
    """One row per speaker turn (see ``SPEAKER_TURNS_SCHEMA``)."""
    from egoinstruct.tables import SPEAKER_TURNS_SCHEMA

    return pa.Table.from_pydict(
        {
            "t_start": [t.start for t in turns],
            "t_end": [t.end for t in turns],
            "speaker": [t.speaker for t in turns],
            "role": [roles.get(t.speaker, UNKNOWN) for t in turns],
        },
        schema=schema or SPEAKER_TURNS_SCHEMA,
    )

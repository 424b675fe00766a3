"""How good the speech stage is on the demo sessions: WER, DER and role attribution vs the truth.

Contract
--------
:func:`session_speech_errors` reads one session's ``transcript.parquet``, ``speaker_turns.parquet``
and ``transcript.json`` and the generator's ``truth/dialogue.tsv`` (:class:`SpeechFiles`, the
paths the ``demo_quality`` rule is given), and returns one row per session:

* ``wer``: word error rate of the whole transcript (utterances in time order) against the
  scripted dialogue, after :func:`normalise_words` on both; ``ref_words`` and ``word_errors``
  (substitutions + deletions + insertions) for pooling;
* ``der``, ``der_collar``: diarization error rate of the speaker turns against the dialogue
  (speaker = role), pyannote.metrics, no collar and a ±0.25 s collar around reference
  boundaries (pyannote's ``collar=0.5``, the NIST convention); ``missed``, ``false_alarm``,
  ``confusion`` (shares of reference speech, no collar) and ``speech_s``;
* ``role_accuracy``: share of the reference speech time at which the speaker turns name the role
  that is really speaking (time without a turn counts as wrong); ``role_accuracy_covered``: the
  same over the time the turns cover; ``transcript_role_accuracy`` and
  ``transcript_role_accuracy_covered``: the same measured with the transcript's utterance
  extents (speech the ASR did not transcribe is uncovered);
* from ``transcript.json``: alignment and diarization methods, ``unaligned_word_share``,
  ``n_speakers`` and the stage's real-time factor ``rtf``.

:func:`speech_summary` pools the rows (errors over reference words, error time over speech
time) into one dict.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from egoinstruct.tables import read_table

FRAME_S = 0.01
COLLAR_S = 0.25  # ± around reference boundaries

_NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
            "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
            "nineteen", "twenty"]
# British → American spellings, and variants Whisper writes either way.
_SPELLINGS = {"colour": "color", "coloured": "colored", "colours": "colors", "grey": "gray", "ok": "okay",
              "centre": "center"}


def normalise_words(text: str) -> list[str]:
    """Lower case, no punctuation, hyphens split, digits 0–20 as words, one spelling per word."""
    text = text.lower().replace("’", "'").replace("-", " ")
    text = re.sub(r"[^\w' ]+", " ", text)
    words = []
    for word in text.split():
        word = word.strip("'")
        if word.isdigit() and int(word) < len(_NUMBERS):
            word = _NUMBERS[int(word)]
        if word:
            words.append(_SPELLINGS.get(word, word))
    return words


def _frames(n: int, spans: list[tuple[float, float, str]]) -> list[set[str]]:
    out: list[set[str]] = [set() for _ in range(n)]
    for start, end, label in spans:
        for i in range(max(0, int(round(start / FRAME_S))), min(n, int(round(end / FRAME_S)))):
            out[i].add(label)
    return out


def role_accuracy(truth: pd.DataFrame, spans: list[tuple[float, float, str]]) -> tuple[float, float, float]:
    """(correct share of reference speech time, correct share of the covered part, speech s)."""
    if truth.empty:
        return float("nan"), float("nan"), 0.0
    n = int(np.ceil(max(truth.t_end.max(), max((s[1] for s in spans), default=0.0)) / FRAME_S)) + 1
    reference = _frames(n, [(r.t_start, r.t_end, r.role) for r in truth.itertuples()])
    hypothesis = _frames(n, spans)
    speech = [i for i in range(n) if reference[i]]
    correct = sum(1 for i in speech if reference[i] & hypothesis[i])
    covered = sum(1 for i in speech if hypothesis[i] - {"unknown"})
    return (correct / len(speech) if speech else float("nan"),
            correct / covered if covered else float("nan"),
            len(speech) * FRAME_S)


def _der(truth: pd.DataFrame, turns: pd.DataFrame) -> dict[str, float]:
    from egoinstruct.speech.reference import DER_KEYS, diarization_scores, rttm_annotation

    scores = diarization_scores(rttm_annotation(zip(truth.t_start, truth.t_end, truth.role, strict=True)),
                                rttm_annotation(zip(turns.t_start, turns.t_end, turns.speaker, strict=True)),
                                collar_s=COLLAR_S)
    return {key: scores[key] for key in DER_KEYS}


@dataclass(frozen=True)
class SpeechFiles:
    """One session's speech outputs and the demo generator's dialogue truth."""

    session: str
    dialogue: Path  # <demo root>/{session}/truth/dialogue.tsv
    transcript: Path  # transcript.parquet
    turns: Path  # speaker_turns.parquet
    quality: Path  # transcript.json


def session_speech_errors(files: SpeechFiles) -> dict[str, Any]:
    import jiwer

    truth = pd.read_csv(files.dialogue, sep="\t")
    transcript = read_table(files.transcript, "transcript").to_pandas().sort_values("t_start")
    turns = read_table(files.turns, "speaker_turns").to_pandas()
    quality = json.loads(Path(files.quality).read_text())

    reference = [w for text in truth.sort_values("t_start").text for w in normalise_words(text)]
    hypothesis = [w for text in transcript.text for w in normalise_words(text)]
    if reference:
        measures = jiwer.process_words(" ".join(reference), " ".join(hypothesis) if hypothesis else "")
        errors = measures.substitutions + measures.deletions + measures.insertions
    else:
        errors = len(hypothesis)
    accuracy, covered, speech_s = role_accuracy(truth, [(r.t_start, r.t_end, r.role) for r in turns.itertuples()])
    transcript_accuracy, transcript_covered, _ = role_accuracy(
        truth, [(r.t_start, r.t_end, r.role) for r in transcript.itertuples()])
    return {
        "session": files.session,
        "ref_words": len(reference),
        "hyp_words": len(hypothesis),
        "word_errors": errors,
        "wer": errors / len(reference) if reference else float("nan"),
        **_der(truth, turns),
        "role_accuracy": accuracy,
        "role_accuracy_covered": covered,
        "transcript_role_accuracy": transcript_accuracy,
        "transcript_role_accuracy_covered": transcript_covered,
        "speech_s": speech_s,
        "n_speakers": quality["diarization"]["n_speakers"],
        "alignment": quality["alignment"]["method"],
        "diarization": quality["diarization"]["method"],
        "unaligned_word_share": quality["unaligned_word_share"],
        "rtf": quality["rtf"],
    }


def speech_errors(files: list[SpeechFiles]) -> pd.DataFrame:
    """One row per session (columns: see the module docstring)."""
    return pd.DataFrame([session_speech_errors(f) for f in files])


def speech_summary(errors: pd.DataFrame) -> dict[str, Any]:
    """Pooled figures over sessions: WER over all reference words, DER and role accuracy over all
    speech time, the worst session's role accuracy, mean real-time factor."""
    if errors.empty:
        return {"sessions": 0}
    weights = errors.speech_s
    return {
        "sessions": int(len(errors)),
        "wer": float(errors.word_errors.sum() / errors.ref_words.sum()),
        "der": float(errors.der_error_s.sum() / errors.der_total_s.sum()),
        "der_collar": float(errors.der_collar_error_s.sum() / errors.der_collar_total_s.sum()),
        "role_accuracy": float((errors.role_accuracy * weights).sum() / weights.sum()),
        "role_accuracy_worst_session": float(errors.role_accuracy.min()),
        "transcript_role_accuracy": float((errors.transcript_role_accuracy * weights).sum() / weights.sum()),
        "transcript_role_accuracy_covered": float(errors.transcript_role_accuracy_covered.mean()),
        "unaligned_word_share": float(errors.unaligned_word_share.mean()),
        "rtf_mean": float(errors.rtf.mean()),
        "alignment": sorted(set(errors.alignment)),
        "diarization": sorted(set(errors.diarization)),
    }

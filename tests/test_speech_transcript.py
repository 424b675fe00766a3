"""Words → speakers → utterances → tables, and the demo-truth measures (WER, DER, role time)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from egoinstruct.io import write_json
from egoinstruct.settings.speech import UtteranceSettings
from egoinstruct.settings.workflow import defaults_for
from egoinstruct.speech.asr import AsrResult, Word, _alignment_groups, padded_regions
from egoinstruct.speech.diarize import Turn
from egoinstruct.speech.io import write_table
from egoinstruct.speech.quality import (
    SpeechFiles,
    normalise_words,
    role_accuracy,
    speech_errors,
    speech_summary,
)
from egoinstruct.speech.transcript import (
    SourcedWord,
    assign_word_speakers,
    order_words,
    transcript_table,
    turns_table,
    utterances,
)
from egoinstruct.tables import SPEAKER_TURNS_SCHEMA, TRANSCRIPT_SCHEMA, read_table

UTTERANCES = defaults_for(UtteranceSettings)  # speech.utterances of config/config.yaml


def words(*items: tuple[str, float, float]) -> list[SourcedWord]:
    return [SourcedWord(Word(text, start, end, 0.9), "instructor_aria") for text, start, end in items]


def test_words_take_the_speaker_of_the_overlapping_turn_and_untimed_ones_their_neighbours():
    ws = words(("Put", 0.1, 0.3), ("it", 0.3, 0.4), ("2", math.nan, math.nan), ("here.", 0.5, 0.8),
               ("Okay.", 1.6, 1.9), ("Good", 3.0, 3.2))
    turns = [Turn(0.0, 0.9, "SPEAKER_00"), Turn(1.5, 2.0, "SPEAKER_01")]
    assign_word_speakers(ws, turns)
    assert [w.speaker for w in ws] == ["SPEAKER_00"] * 4 + ["SPEAKER_01", "SPEAKER_01"]  # last: nearest turn


def test_utterances_split_on_speaker_pause_and_sentence_end():
    ws = words(("Put", 0.0, 0.2), ("it", 0.25, 0.4), ("here.", 0.45, 0.7), ("Then", 0.9, 1.1),
               ("wait", 1.15, 1.3), ("now", 2.0, 2.2), ("Yes", 2.3, 2.5))
    for w, speaker in zip(ws, ["A", "A", "A", "A", "A", "A", "B"], strict=True):
        w.speaker = speaker
    utts = utterances(order_words(ws), defaults_for(UtteranceSettings, max_pause_s=0.5, sentence_pause_s=0.15))
    assert [" ".join(w.word.word for w in u.words) for u in utts] == ["Put it here.", "Then wait", "now", "Yes"]
    assert [u.speaker for u in utts] == ["A", "A", "A", "B"]
    assert utts[0].t_start == 0.0 and utts[0].t_end == 0.7


def test_untimed_leading_word_joins_the_next_utterance():
    ws = words(("Two", math.nan, math.nan), ("blocks", 0.5, 0.9))
    for w in ws:
        w.speaker = "A"
    utts = utterances(order_words(ws), UTTERANCES)
    assert len(utts) == 1 and [w.word.word for w in utts[0].words] == ["Two", "blocks"]


def test_tables_follow_the_schemas_and_keep_nan():
    ws = words(("Hi", 0.0, 0.3), ("there", math.nan, math.nan))
    for w in ws:
        w.speaker = "SPEAKER_00"
    table = transcript_table(utterances(ws, UTTERANCES), {"SPEAKER_00": "instructor"}, "en")
    assert table.schema.equals(TRANSCRIPT_SCHEMA)
    row = table.to_pylist()[0]
    assert row["text"] == "Hi there" and row["role"] == "instructor" and math.isnan(row["energy_ratio_db"])
    assert math.isnan(row["words"][1]["t_start"]) and row["confidence"] == pytest.approx(0.9)
    ja = transcript_table(utterances(words(("取", 0.0, 0.1), ("る", 0.1, 0.2)), UTTERANCES), {}, "ja").to_pylist()[0]
    assert ja["text"] == "取る" and ja["role"] == "unknown"
    empty = transcript_table([], {}, None)
    assert empty.num_rows == 0 and empty.schema.equals(TRANSCRIPT_SCHEMA)
    assert turns_table([Turn(0, 1, "S")], {"S": "learner"}).schema.equals(SPEAKER_TURNS_SCHEMA)


def test_unaligned_share():
    result = AsrResult([Word("a", 0, 1, 1), Word("2", math.nan, math.nan, math.nan)], [], "en", "wav2vec2",
                       None, "", [])
    assert result.unaligned_share == 0.5
    assert AsrResult([], [], "en", "none", None, "", []).unaligned_share == 0.0


def test_padded_regions_stay_inside_neighbours_and_the_chunk_limit():
    regions = [(1.0, 2.0), (2.04, 3.0), (10.0, 39.95)]
    padded = padded_regions(regions, 0.1, 40.0, 30.0)
    assert padded[0] == pytest.approx((0.9, 2.02)) and padded[1] == pytest.approx((2.02, 3.1))
    assert padded[2][1] - padded[2][0] <= 30.0 + 1e-9


def test_encoder_outputs_are_reused_only_for_whole_batches():
    class Output:
        def __init__(self, n):
            self.shape = [n, 1500, 384]

    full, partial = Output(2), Output(2)
    groups = _alignment_groups([(full, 0), (full, 1), (partial, 1)], 3, 2)
    assert groups == [([0, 1], full), ([2], None)]
    assert _alignment_groups(None, 3, 2) == [([0, 1], None), ([2], None)]


def test_normalise_words():
    assert normalise_words("Now the 2 red blocks!") == ["now", "the", "two", "red", "blocks"]
    assert normalise_words("Should the coloured side be outside? OK, grey-ish") == [
        "should", "the", "colored", "side", "be", "outside", "okay", "gray", "ish"]
    assert normalise_words("That's it.") == ["that's", "it"]


def test_role_accuracy_counts_uncovered_speech_as_wrong():
    truth = pd.DataFrame({"t_start": [0.0, 2.0], "t_end": [1.0, 3.0], "role": ["instructor", "learner"]})
    accuracy, covered, speech = role_accuracy(truth, [(0.0, 1.0, "instructor"), (2.0, 2.5, "instructor")])
    assert speech == pytest.approx(2.0)
    assert accuracy == pytest.approx(0.5) and covered == pytest.approx(1.0 / 1.5)


def test_speech_errors_against_a_truth_table(tmp_path):
    demo, results = tmp_path / "demo", tmp_path / "results"
    (demo / "s01" / "truth").mkdir(parents=True)
    pd.DataFrame({
        "t_start": [0.5, 2.0], "t_end": [1.5, 3.0], "role": ["instructor", "learner"],
        "text": ["Put the plate down.", "Like this?"], "state": ["x", "y"], "step": ["a", "b"],
    }).to_csv(demo / "s01" / "truth" / "dialogue.tsv", sep="\t", index=False)
    base = results / "sessions" / "s01"
    ws = words(("Put", 0.5, 0.7), ("a", 0.7, 0.9), ("plate", 0.9, 1.2), ("down.", 1.2, 1.5))
    ws += [SourcedWord(Word("Like", 2.0, 2.4, 0.8), "instructor_aria"), SourcedWord(Word("this?", 2.4, 3.0, 0.8), "instructor_aria")]
    turns = [Turn(0.5, 1.5, "SPEAKER_00"), Turn(2.0, 3.0, "SPEAKER_01")]
    assign_word_speakers(ws, turns)
    roles = {"SPEAKER_00": "instructor", "SPEAKER_01": "learner"}
    write_table(base / "transcript.parquet", transcript_table(utterances(ws, UTTERANCES), roles, "en"), "transcript", {"session": "s01"})
    write_table(base / "speaker_turns.parquet", turns_table(turns, roles), "speaker_turns", {"session": "s01"})
    write_json(base / "transcript.json", {"diarization": {"n_speakers": 2, "method": "offline"},
                                          "alignment": {"method": "whisper"}, "unaligned_word_share": 0.0, "rtf": 0.1})
    assert read_table(base / "transcript.parquet", "transcript").num_rows == 2
    files = SpeechFiles("s01", demo / "s01" / "truth" / "dialogue.tsv", base / "transcript.parquet",
                        base / "speaker_turns.parquet", base / "transcript.json")
    errors = speech_errors([files])
    row = errors.iloc[0]
    assert row.ref_words == 6 and row.word_errors == 1 and row.wer == pytest.approx(1 / 6)
    assert row.der == pytest.approx(0.0) and row.role_accuracy == pytest.approx(1.0)
    summary = speech_summary(errors)
    assert summary["wer"] == pytest.approx(1 / 6) and summary["role_accuracy"] == pytest.approx(1.0)
    json.dumps(summary)  # plain JSON for the CLI
    assert np.isfinite(summary["der_collar"])

"""Scoring a session's speech against standard references (RTTM, STM, plain text), and the CLI.

References: the RTTM and STM that ship with pyannote.audio's sample (real speech, see
``speech_samples.py``), read from the installed package; hand-worked cases for the formulas.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from speech_samples import sample_folder

from egoinstruct.cli import main
from egoinstruct.errors import InputError
from egoinstruct.speech.asr import Word
from egoinstruct.speech.diarize import Turn
from egoinstruct.speech.io import write_table
from egoinstruct.speech.reference import (
    SessionSpeechFiles,
    diarization_scores,
    read_rttm,
    read_stm,
    rttm_annotation,
    score_session,
    word_scores,
)
from egoinstruct.speech.transcript import SourcedWord, Utterance, transcript_table, turns_table


def test_reads_the_sample_rttm_and_stm():
    turns = read_rttm(sample_folder() / "sample.rttm")
    assert len(turns) == 10 and {s for *_, s in turns} == {"speaker90", "speaker91"}
    assert turns[0] == pytest.approx((6.69, 7.12, "speaker90"))
    segments = read_stm(sample_folder() / "sample.stm")
    assert len(segments) == 13 and segments[0][2:] == ("Diane", "Hello?")


def test_bad_reference_lines_name_the_line(tmp_path):
    bad = tmp_path / "bad.rttm"
    bad.write_text("SPEAKER f 1 0.0 x <NA> <NA> a <NA> <NA>\n")
    with pytest.raises(InputError, match=r"line 1: duration 'x'"):
        read_rttm(bad)
    two = tmp_path / "two.rttm"
    two.write_text("SPEAKER a 1 0 1 <NA> <NA> x <NA> <NA>\nSPEAKER b 1 0 1 <NA> <NA> y <NA> <NA>\n")
    with pytest.raises(InputError, match="--uri"):
        read_rttm(two)
    assert read_rttm(two, uri="b") == [(0.0, 1.0, "y")]


def test_diarization_scores_hand_worked():
    reference = rttm_annotation([(0, 4, "A"), (4, 8, "B")])
    perfect = diarization_scores(reference, rttm_annotation([(0, 4, "x"), (4, 8, "y")]))
    assert perfect["der"] == 0 and perfect["speaker_count_error"] == 0
    assert perfect["boundary_precision"] == 1 and perfect["boundary_recall"] == 1
    merged = diarization_scores(reference, rttm_annotation([(0, 8, "x")]))
    assert merged["der"] == pytest.approx(0.5) and merged["confusion"] == pytest.approx(0.5)
    assert merged["speaker_count_error"] == 1 and merged["boundary_recall"] == 0
    late = diarization_scores(reference, rttm_annotation([(0, 4.2, "x"), (4.2, 8, "y")]))
    assert late["der"] == pytest.approx(0.2 / 8) and late["der_collar"] == 0  # inside the ±0.25 s collar
    assert late["boundary_precision"] == 1  # within the ±0.5 s tolerance


def test_word_scores_wer_and_cer():
    scores = word_scores("put the red block", "put a red block", "en")
    assert scores["wer"] == pytest.approx(0.25) and scores["primary"] == "wer"
    japanese = word_scores("赤いブロックを置いて", "赤いブロック置いて", "ja")
    assert japanese["primary"] == "cer" and japanese["cer"] == pytest.approx(1 / 10)


def session_folder(tmp_path, turns: list[tuple[float, float, str]], text: str):
    folder = tmp_path / "sessions" / "real01"
    folder.mkdir(parents=True)
    words = [SourcedWord(Word(w, 1.0 + i * 0.3, 1.2 + i * 0.3, 1.0), "dev", "SPEAKER_00")
             for i, w in enumerate(text.split())]
    roles = {"SPEAKER_00": "instructor", "SPEAKER_01": "learner"}
    write_table(folder / "transcript.parquet",
                transcript_table([Utterance(words, "SPEAKER_00", "dev")], roles, "en"), "transcript", {})
    write_table(folder / "speaker_turns.parquet", turns_table([Turn(*t) for t in turns], roles),
                "speaker_turns", {})
    (folder / "transcript.json").write_text(json.dumps({"language": "en", "diarization": {"method": "level"},
                                                         "rtf": 0.1}))
    return folder


def test_score_a_session_against_the_sample_references(tmp_path):
    reference = read_rttm(sample_folder() / "sample.rttm")
    names = {"speaker90": "SPEAKER_00", "speaker91": "SPEAKER_01"}
    text = " ".join(t for *_, t in read_stm(sample_folder() / "sample.stm"))
    folder = session_folder(tmp_path, [(a, b, names[s]) for a, b, s in reference], text)
    scores = score_session(SessionSpeechFiles.in_folder(folder), rttm=sample_folder() / "sample.rttm",
                           stm=sample_folder() / "sample.stm")
    assert scores["der"] == pytest.approx(0) and scores["speakers_hypothesis"] == 2
    assert scores["wer"] == 0 and scores["ref_words"] > 60 and scores["diarization"] == "level"


def test_cli_score_speech_and_check_demo_on_a_real_session(tmp_path, capsys):
    reference = read_rttm(sample_folder() / "sample.rttm")
    folder = session_folder(tmp_path, [(a, b, "SPEAKER_00") for a, b, _ in reference], "hello hello oh hello")
    out = tmp_path / "scores.json"
    assert main(["score-speech", str(folder), "--rttm", str(sample_folder() / "sample.rttm"),
                 "--stm", str(sample_folder() / "sample.stm"), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "DER" in printed and "speakers 1 found / 2 in the reference" in printed and "WER" in printed
    scores = json.loads(out.read_text())
    assert scores["speaker_count_error"] == 1 and np.isfinite(scores["wer"])
    assert main(["score-speech", str(tmp_path / "nowhere"), "--text", str(out)]) == 2
    assert "not a session's speech folder" in capsys.readouterr().err
    assert main(["check-demo", "--results", str(tmp_path)]) == 2  # a real run: no demo truth
    assert "egoinstruct score-speech" in capsys.readouterr().err


def test_report_lists_speech_warnings():
    from egoinstruct.report.data import speech_warnings

    speech = {"s01": {"diarization": {"method": "level", "n_speakers": 1},
                      "warnings": ["session s01: all speech was given to the instructor; ..."]},
              "s02": {"diarization": {"method": "level", "n_speakers": 2}, "warnings": []}, "s03": None}
    frame = speech_warnings(speech)
    assert frame.to_dict("records") == [{"session": "s01", "diarization": "level", "speakers": 1,
                                         "warning": "session s01: all speech was given to the instructor; ..."}]

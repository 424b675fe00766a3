"""MLLM answer parsing: strict JSON, fenced, drift, fuzzy; unparseable is its own outcome."""

from __future__ import annotations

import pytest

from egoinstruct.mllm.parse import UNPARSEABLE, from_scores, match_label, parse_answer

LABELS = ("instructor_explains", "instructor_demonstrates", "learner_asks", "instructor_answers",
          "confirmation", "silent_work")


@pytest.mark.parametrize("text,label,outcome", [
    ('{"label": "learner_asks", "confidence": 0.8}', "learner_asks", "json"),
    ('  {"Label": "confirmation"}\n', "confirmation", "json"),
    ('"silent_work"', "silent_work", "json"),
    ('```json\n{"label": "silent_work"}\n```', "silent_work", "fenced"),
    ('Sure! ```\n{"answer": "instructor_answers"}\n``` hope that helps', "instructor_answers", "fenced"),
    ("Here you go: {'label': 'learner_asks', 'confidence': 0.5,} done", "learner_asks", "repaired"),
    ('{label: "confirmation"}', "confirmation", "repaired"),
    ('{"label": "Learner Asks"}', "learner_asks", "json"),
    ('{"label": "instructor-explains"}', "instructor_explains", "json"),
    ('{"label": "instructor_explain"}', "instructor_explains", "fuzzy"),
    ('{"label": "silent_wrk"}', "silent_work", "fuzzy"),
    (" silent_work", "silent_work", "text"),
    ("Confirmation.", "confirmation", "text"),
    ("The answer is learner_asks because she asks.", "learner_asks", "text"),
    ("confirmaton", "confirmation", "fuzzy"),
])
def test_accepted_answers(text, label, outcome):
    parsed = parse_answer(text, LABELS)
    assert (parsed.label, parsed.outcome) == (label, outcome)


@pytest.mark.parametrize("text,detail", [
    ("", "empty"),
    ("   \n", "empty"),
    ('{"label": "hacked"}', "not in the label set"),
    ('{"label": "question"}', "not in the label set"),
    ('{"confidence": 0.9}', "without a label"),
    ('{"label": ', "without a label"),
    ("I think it is learner_asks or confirmation.", "several labels"),
    ("The instructor is talking about blocks and", "no label"),
    ("instructor", "no label"),  # a prefix of several labels is not a guess
])
def test_unparseable_answers_are_never_mapped_to_a_class(text, detail):
    parsed = parse_answer(text, LABELS)
    assert parsed.label is None and parsed.outcome == UNPARSEABLE
    assert detail in parsed.detail


def test_confidence_read_only_when_valid():
    assert parse_answer('{"label": "confirmation", "confidence": 0.25}', LABELS).confidence == 0.25
    assert parse_answer('{"label": "confirmation", "confidence": 7}', LABELS).confidence is None
    assert parse_answer('{"label": "confirmation", "confidence": "high"}', LABELS).confidence is None


def test_fuzzy_match_needs_one_clear_winner():
    assert match_label("instructor_answer", LABELS) == ("instructor_answers", True)
    assert match_label("instructor_", LABELS) == (None, False)


def test_loglik_scores_pick_the_best_and_give_a_probability():
    scores = {label: -10.0 for label in LABELS} | {"confirmation": -1.0}
    parsed = from_scores(scores, LABELS)
    assert parsed.label == "confirmation" and parsed.outcome == "loglik"
    assert 0.99 < parsed.confidence <= 1.0
    assert from_scores({"confirmation": 0.0}, LABELS).outcome == UNPARSEABLE

"""Window answers → frame-level predictions in the shared contract; window records."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from egoinstruct.mllm.predictions import (
    WindowAnswer,
    frame_predictions,
    frame_times,
)
from egoinstruct.predictions import write_predictions
from egoinstruct.tables import PREDICTIONS_SCHEMA, read_table, table_metadata

LABELS = ("a", "b", "c")


def test_frame_times_follow_the_rate():
    assert frame_times(3.0, 2.0).tolist() == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert frame_times(2.9, 2.0).tolist()[-1] == 2.5
    assert frame_times(0.0, 2.0).tolist() == []


def test_each_frame_takes_the_nearest_centred_window():
    # 8 s windows every 4 s over 16 s: centres 4, 8, 12.
    answers = [WindowAnswer(0, 8, "a"), WindowAnswer(4, 12, "b"), WindowAnswer(8, 16, "c")]
    times = frame_times(16.0, 1.0)
    labels, scores = frame_predictions(answers, times, LABELS)
    assert scores is None
    assert labels == ["a"] * 7 + ["b"] * 4 + ["c"] * 5  # ties (6 s, 10 s) go to the earlier window


def test_unparseable_window_falls_back_to_an_overlapping_answer_never_to_a_guess():
    answers = [WindowAnswer(0, 8, "a"), WindowAnswer(4, 12, None), WindowAnswer(8, 16, "c")]
    labels, _ = frame_predictions(answers, frame_times(16.0, 1.0), LABELS)
    assert labels == ["a"] * 8 + ["c"] * 8
    # With nothing parsed anywhere the frames say so.
    none, _ = frame_predictions([WindowAnswer(0, 8, None)], frame_times(8.0, 1.0), LABELS)
    assert none == ["unparseable"] * 8


def test_last_frame_at_the_session_end_is_covered():
    labels, _ = frame_predictions([WindowAnswer(0, 5.0, "b")], np.array([0.0, 4.9, 5.0]), LABELS)
    assert labels == ["b", "b", "b"]


def test_scores_follow_the_chosen_window():
    answers = [WindowAnswer(0, 4, "a", {"a": 0.7, "b": 0.2, "c": 0.1}),
               WindowAnswer(2, 6, "c", {"a": 0.1, "b": 0.1, "c": 0.8})]
    labels, scores = frame_predictions(answers, frame_times(6.0, 1.0), LABELS)
    assert labels == ["a", "a", "a", "a", "c", "c"]  # 3 s is a tie: the earlier window
    assert scores.shape == (6, 3) and scores[0].tolist() == [0.7, 0.2, 0.1] and scores[5, 2] == 0.8


def test_written_table_fits_the_contract(tmp_path):
    path = tmp_path / "predictions" / "states" / "mllm-x" / "s01.parquet"
    times = frame_times(2.0, 2.0)
    write_predictions(path, times, ["a", "b", "unparseable", "c"], LABELS,
                      np.full((4, 3), 1 / 3), {"model": "x", "session": "s01"})
    table = read_table(path, "predictions")
    assert table.schema.names == ["t", "label", "fold", "score_a", "score_b", "score_c"]
    for field in PREDICTIONS_SCHEMA:
        assert table.schema.field(field.name).type == field.type
    assert table.column("fold").to_pylist() == [-1] * 4
    assert table.column("label").to_pylist()[2] == "unparseable"
    meta = table_metadata(path)
    assert meta["model"] == "x" and meta["label_set"] == '["a", "b", "c"]'
    # Without scores only the three contract columns.
    write_predictions(path, times, ["a"] * 4, LABELS, None, {})
    assert pq.read_schema(path).names == ["t", "label", "fold"]

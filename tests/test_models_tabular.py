"""The gradient-boosting baseline over window aggregates (window arithmetic, feature groups and
train-only PCA, learning, absent classes, settings, saving) and the majority-class reference."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from pathlib import Path

import joblib
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from egoinstruct.errors import InputError
from egoinstruct.models.majority import fit_majority, predict_majority
from egoinstruct.models.segmentation import Sequence
from egoinstruct.models.tabular import (
    UNGROUPED,
    TabularModel,
    fit_feature_extractor,
    half_window_frames,
    load_tabular,
    predict_tabular,
    resolve_groups,
    resolve_tabular_settings,
    train_tabular,
    window_aggregates,
)

EMBEDDING = 80  # wider than the default pca_width_threshold (64): reduced by PCA
GROUPS = {"visual": (0, EMBEDDING), "prosody": (EMBEDDING, EMBEDDING + 3)}
FAST = {"preset": "demo", "max_iter": 40, "window_s": 2.0}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    # The test machine's cores are shared: one OpenMP/BLAS thread for the boosting and the PCA.
    with threadpool_limits(limits=1):
        yield


def noisy_states(n: int, seed: int, num_classes: int = 3) -> list[Sequence]:
    """Sessions of 200 frames at 5 fps in segments of 10-30 frames, class 0 twice as likely.

    A frame's class shows as a class prototype in an 80-d "embedding" buried in noise twice its
    size (window means recover it), and as the *variability* of prosody column 0 (large for
    class 1: a frame's own value cannot show it, the window std can). Columns 81-82 are noise.
    """
    rng = np.random.default_rng(seed)
    prototypes = np.random.default_rng(99).normal(size=(num_classes, EMBEDDING))
    weights = np.array([2.0] + [1.0] * (num_classes - 1))
    sequences = []
    for i in range(n):
        labels: list[int] = []
        while len(labels) < 200:
            labels += [int(rng.choice(num_classes, p=weights / weights.sum()))] * int(rng.integers(10, 31))
        y = np.array(labels[:200], dtype=np.int64)
        visual = prototypes[y].T + 2.0 * rng.normal(size=(EMBEDDING, 200))
        prosody = rng.normal(size=(3, 200))
        prosody[0] *= np.where(y == 1, 4.0, 0.3)
        sequences.append(Sequence(f"session{i}", np.concatenate([visual, prosody]), y))
    return sequences


# --------------------------------------------------------------------------------------------
# Window aggregates


def test_window_aggregates_on_a_hand_worked_example() -> None:
    # Column 0: 1, 2, 4, 8, 16; column 1 constant. Window t-1..t+1, cut at the edges.
    x = np.array([[1.0, 3.0], [2.0, 3.0], [4.0, 3.0], [8.0, 3.0], [16.0, 3.0]], dtype=np.float32)
    out = window_aggregates(x, half_width=1)
    assert out.shape == (5, 8) and out.dtype == np.float32
    value, mean, std, trend = out[:, 0::2][:, :4].T  # column 0's four aggregates
    np.testing.assert_allclose(value, [1, 2, 4, 8, 16])
    # Windows {1,2}, {1,2,4}, {2,4,8}, {4,8,16}, {8,16}.
    np.testing.assert_allclose(mean, [1.5, 7 / 3, 14 / 3, 28 / 3, 12.0], rtol=1e-6)
    np.testing.assert_allclose(std, [0.5, math.sqrt(14) / 3, math.sqrt(56) / 3,
                                     math.sqrt(224) / 3, 4.0], rtol=1e-5)
    # Trend: mean(t..t+1) - mean(t-1..t): (1.5-1), (3-1.5), (6-3), (12-6), (16-12).
    np.testing.assert_allclose(trend, [0.5, 1.5, 3.0, 6.0, 4.0], rtol=1e-6)
    # The constant column: value = mean = 3, std = trend = 0 everywhere.
    np.testing.assert_allclose(out[:, [1, 3]], 3.0)
    np.testing.assert_allclose(out[:, [5, 7]], 0.0, atol=1e-6)


def test_window_aggregates_at_the_limits() -> None:
    x = np.array([[1.0], [2.0], [4.0]], dtype=np.float32)
    none = window_aggregates(x, half_width=0)  # the window is the frame itself
    np.testing.assert_allclose(none[:, 1], x[:, 0])
    np.testing.assert_allclose(none[:, 2:], 0.0)
    whole = window_aggregates(x, half_width=10)  # every window is the whole sequence
    np.testing.assert_allclose(whole[:, 1], 7 / 3, rtol=1e-6)
    np.testing.assert_allclose(whole[:, 3], [7 / 3 - 1, 3 - 1.5, 4 - 7 / 3], rtol=1e-6)
    # Large offsets (as pitch in Hz over a long session) keep their precision.
    big = 1e4 + np.array([[0.0], [1.0], [0.0], [1.0]] * 5000, dtype=np.float32)
    np.testing.assert_allclose(window_aggregates(big, 1)[1:-1, 2], math.sqrt(2) / 3, rtol=1e-4)


def test_half_window_from_seconds_and_fps() -> None:
    assert half_window_frames({"window_s": 4.0, "fps": 5.0}) == 10  # 21 frames
    assert half_window_frames({"window_s": 1.0, "fps": 5.0}) == 3  # 2.5 rounds up
    assert half_window_frames({"window_s": 0.0, "fps": 15.0}) == 0


# --------------------------------------------------------------------------------------------
# Groups and PCA


def test_groups_are_checked_and_the_remainder_is_a_group() -> None:
    groups = resolve_groups({"b": (4, 10), "a": (0, 2)}, input_dim=12)
    assert [g.name for g in groups] == ["a", UNGROUPED, "b"]
    assert groups[1].columns.tolist() == [2, 3, 10, 11]
    assert [g.name for g in resolve_groups(None, 3)] == [UNGROUPED]
    with pytest.raises(ValueError, match="overlaps"):
        resolve_groups({"a": (0, 5), "b": (4, 8)}, input_dim=10)
    with pytest.raises(ValueError, match="outside"):
        resolve_groups({"a": (0, 11)}, input_dim=10)
    with pytest.raises(ValueError, match="empty"):
        resolve_groups({"a": (3, 3)}, input_dim=10)


def test_pca_is_fitted_on_the_training_frames_only() -> None:
    train_set, test_set = noisy_states(3, seed=1), noisy_states(2, seed=2)
    settings = resolve_tabular_settings(FAST)
    extractor = fit_feature_extractor(train_set, GROUPS, settings, seed=0)
    visual, prosody = extractor.groups
    assert visual.pca is not None and visual.pca.n_components_ == settings["pca_components"]
    assert prosody.pca is None  # 3 columns: used as they are
    frames = np.concatenate([s.features[:EMBEDDING] for s in train_set], axis=1)
    np.testing.assert_allclose(visual.pca.mean_, frames.mean(axis=1), rtol=1e-4, atol=1e-5)
    assert len(extractor.feature_names) == 4 * (settings["pca_components"] + 3)

    # Transforming other (wildly different) data leaves the fitted transform as it was.
    before = copy.deepcopy(visual.pca.components_)
    reference = extractor.transform(train_set[0])
    shifted = [Sequence(s.name, s.features * 50.0 + 7.0) for s in test_set]
    for s in shifted:
        extractor.transform(s)
    np.testing.assert_array_equal(visual.pca.components_, before)
    np.testing.assert_array_equal(extractor.transform(train_set[0]), reference)
    # ... and fitting with a different held-out fold around would be the same fit.
    again = fit_feature_extractor(train_set, GROUPS, settings, seed=0)
    np.testing.assert_array_equal(again.transform(shifted[0]), extractor.transform(shifted[0]))


def test_pca_frame_sample_is_bounded() -> None:
    train_set = noisy_states(2, seed=3)
    settings = resolve_tabular_settings({**FAST, "pca_max_frames": 50, "pca_components": 60})
    extractor = fit_feature_extractor(train_set, GROUPS, settings, seed=0)
    assert extractor.groups[0].pca is not None
    assert extractor.groups[0].pca.n_samples_ == 50
    assert extractor.groups[0].pca.n_components_ == 50  # no more components than frames


# --------------------------------------------------------------------------------------------
# Training and prediction


def _accuracy(probabilities: list[np.ndarray], sequences: list[Sequence]) -> float:
    correct = sum(int((p.argmax(axis=0) == s.labels).sum())
                  for p, s in zip(probabilities, sequences, strict=True))
    return correct / sum(s.num_frames for s in sequences)


def test_learns_well_above_the_majority_class(tmp_path: Path) -> None:
    train_set, held_out = noisy_states(6, seed=4), noisy_states(3, seed=5)
    # Unannotated frames must not reach the classifier (-100 is not a class).
    first = train_set[0]
    assert first.labels is not None
    gappy = first.labels.copy()
    gappy[:40] = -100
    train_set[0] = Sequence(first.name, first.features, gappy)

    result = train_tabular(train_set, 3, FAST, GROUPS, tmp_path, seed=0, progress=False, threads=1)
    assert result.n_train_frames == 6 * 200 - 40
    assert result.train_accuracy >= 0.95
    probabilities = predict_tabular(result.model, held_out, threads=1)
    assert all(p.shape == (3, s.num_frames) and p.dtype == np.float32
               for p, s in zip(probabilities, held_out, strict=True))
    np.testing.assert_allclose(np.concatenate(probabilities, axis=1).sum(axis=0), 1.0, rtol=1e-5)
    majority = predict_majority(fit_majority(train_set, 3), held_out, 3)
    accuracy, floor = _accuracy(probabilities, held_out), _accuracy(majority, held_out)
    assert accuracy >= 0.9 and accuracy >= floor + 0.3

    # Saved and reloaded, it predicts the same; training.json describes the run.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.joblib", "training.json"]
    reloaded = predict_tabular(result.model_path, held_out)
    assert all(np.array_equal(p, q) for p, q in zip(probabilities, reloaded, strict=True))
    info = json.loads(result.info_path.read_text())
    assert info["settings"] == result.settings and info["seed"] == 0
    assert info["n_features"] == result.n_features == 4 * (8 + 3)
    assert info["class_counts"] == result.class_counts and sum(info["class_counts"]) == 1160
    assert [g["name"] for g in info["groups"]] == ["visual", "prosody"]
    assert info["groups"][0]["reduced_to"] == 8 and info["groups"][1]["reduced_to"] is None
    assert info["window_frames"] == 11 and info["n_iter"] == 40
    assert {"pca_s", "features_s", "fit_s", "total_s"} <= set(info["timings"])


def test_same_seed_same_model(tmp_path: Path) -> None:
    data = noisy_states(3, seed=6)
    settings = {**FAST, "max_iter": 10, "max_features": 0.5}
    a, b = (train_tabular(data, 3, settings, GROUPS, tmp_path / n, seed=3, progress=False)
            for n in ("a", "b"))
    assert all(np.array_equal(p, q) for p, q in
               zip(predict_tabular(a.model, data), predict_tabular(b.model, data), strict=True))


def test_classes_absent_from_the_fold_get_zero_columns(tmp_path: Path) -> None:
    data = noisy_states(3, seed=7)  # classes 0..2 of 5
    result = train_tabular(data, 5, {**FAST, "max_iter": 5}, GROUPS, tmp_path / "three",
                           progress=False)
    probabilities = predict_tabular(result.model, data[:1])[0]
    assert probabilities.shape == (5, 200)
    assert np.all(probabilities[3:] == 0)
    np.testing.assert_allclose(probabilities.sum(axis=0), 1.0, rtol=1e-5)
    assert result.class_counts[3:] == [0, 0]

    only = [Sequence(s.name, s.features, np.full(s.num_frames, 2)) for s in data]
    single = train_tabular(only, 4, FAST, GROUPS, tmp_path / "one", progress=False)
    assert single.model.classifier is None and single.train_accuracy == 1.0
    expected = np.zeros((4, 200), dtype=np.float32)
    expected[2] = 1.0
    np.testing.assert_array_equal(predict_tabular(single.model_path, data[:1])[0], expected)


def test_early_stopping_holds_out_whole_sessions(tmp_path: Path) -> None:
    # Labels moved to another session's features: nothing to learn, so the held-out loss is
    # lowest after very few iterations and boosting stops long before max_iter.
    states = noisy_states(4, seed=8)
    data = [Sequence(s.name, s.features, states[(i + 1) % 4].labels) for i, s in enumerate(states)]
    settings = {**FAST, "max_iter": 200, "learning_rate": 0.3, "validation_fraction": 0.25,
                "n_iter_no_change": 5}
    result = train_tabular(data, 3, settings, GROUPS, tmp_path, seed=1, progress=False)
    info = json.loads(result.info_path.read_text())
    assert info["early_stopping_iterations"] is not None
    assert result.n_iter == info["early_stopping_iterations"] < 200


def test_settings_are_validated() -> None:
    paper = resolve_tabular_settings()
    assert paper["preset"] == "paper" and paper["window_s"] == 4.0 and paper["fps"] == 5.0
    assert paper["class_weight"] == "balanced" and paper["validation_fraction"] == 0.0
    assert resolve_tabular_settings(paper) == paper
    custom = resolve_tabular_settings({"max_iter": 50.0, "learning_rate": 5e-2, "class_weight": None})
    assert custom["max_iter"] == 50 and isinstance(custom["max_iter"], int) and custom["learning_rate"] == 0.05
    assert custom["class_weight"] is None
    # overrides are checked against $defs/gbdt_settings of the config schema
    where = r"baseline settings of 'gbdt': "
    with pytest.raises(InputError, match=where + r"n_estimators: unknown key"):
        resolve_tabular_settings({"n_estimators": 100})
    with pytest.raises(InputError, match=where + r"max_iter: 2\.5 is not of type 'integer'"):
        resolve_tabular_settings({"max_iter": 2.5})
    with pytest.raises(InputError, match=where + r"fps: 0 is less than or equal to the minimum of 0"):
        resolve_tabular_settings({"fps": 0})
    with pytest.raises(InputError, match=where + r"class_weight: 'inverse' is not allowed; choose one of"):
        resolve_tabular_settings({"class_weight": "inverse"})
    with pytest.raises(InputError, match=where + r"preset: 'huge' is not allowed"):
        resolve_tabular_settings({"preset": "huge"})
    # YAML 1.1 reads 5e-2 (no dot) as text: refused with the fix, never converted silently
    with pytest.raises(InputError, match=where + r"learning_rate: '5e-2' is text, not a number.*write 5\.0e-4"):
        resolve_tabular_settings({"learning_rate": "5e-2"})
    with pytest.raises(InputError, match=where + r"max_features: 1\.5 is greater than the maximum of 1"):
        resolve_tabular_settings({"max_features": 1.5})


def test_wrong_inputs_are_reported(tmp_path: Path) -> None:
    data = noisy_states(2, seed=9)
    result = train_tabular(data, 3, {**FAST, "max_iter": 3}, GROUPS, tmp_path, progress=False)
    with pytest.raises(ValueError, match="narrow"):
        predict_tabular(result.model, [Sequence("narrow", np.zeros((5, 10), dtype=np.float32))])
    bad = Sequence("bad", data[0].features, np.full(200, 7))
    with pytest.raises(ValueError, match="bad.*label 7"):
        train_tabular([bad], 3, FAST, GROUPS, tmp_path / "bad", progress=False)
    joblib.dump({"weights": [1, 2]}, tmp_path / "other.joblib")
    with pytest.raises(ValueError, match="not an egoinstruct tabular model"):
        load_tabular(tmp_path / "other.joblib")
    with pytest.raises(FileNotFoundError):
        predict_tabular(tmp_path / "missing.joblib", data)
    assert isinstance(load_tabular(result.model_path), TabularModel)


# --------------------------------------------------------------------------------------------
# Majority class


def test_majority_ignores_unannotated_frames_and_breaks_ties_low() -> None:
    a = Sequence("a", np.zeros((1, 8), dtype=np.float32),
                 np.array([-100, -100, -100, -100, -100, 1, 2, 2]))
    b = Sequence("b", np.zeros((1, 3), dtype=np.float32), np.array([1, 2, -100]))
    assert fit_majority([a, b], 4) == 2  # class 2: 3 frames, class 1: 2; -100 (5 frames) ignored
    assert fit_majority([Sequence("c", np.zeros((1, 4), dtype=np.float32), np.array([3, 1, 1, 3]))],
                        4) == 1
    one_hot = predict_majority(2, [a, Sequence("new", np.zeros((1, 2), dtype=np.float32))], 4)
    assert [p.shape for p in one_hot] == [(4, 8), (4, 2)]
    np.testing.assert_array_equal(one_hot[1], [[0, 0], [0, 0], [1, 1], [0, 0]])
    with pytest.raises(ValueError, match="label 4"):
        fit_majority([Sequence("d", np.zeros((1, 1), dtype=np.float32), np.array([4]))], 4)
    with pytest.raises(ValueError, match="outside"):
        predict_majority(4, [a], 4)

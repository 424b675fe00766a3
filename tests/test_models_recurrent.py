"""The bidirectional GRU conversation-state classifier: shapes, padding invariance, input
standardisation from the training set only, learning a task that needs the future, checkpoints
and reproducibility through the shared train/predict interface."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from egoinstruct.errors import InputError
from egoinstruct.models.recurrent import BiGRUClassifier, lengths_from_mask, run_bidirectional
from egoinstruct.models.segmentation import (
    Sequence,
    available_models,
    build_model,
    load_checkpoint,
    predict,
    resolve_settings,
    train,
)

from model_utils import one_thread, padded_batch  # noqa: F401 - one_thread is an autouse fixture

TINY = {"preset": "demo", "hidden": 16, "num_layers": 1, "dropout": 0.0, "input_dropout": 0.0}


def cue_at_the_end(n: int, seed: int, num_classes: int = 3) -> list[Sequence]:
    """Sessions of segments 6-15 frames long whose class shows only in a cue at the segment's
    last frame (a one-hot pulse on channel ``class``), so a frame's label is the class of the
    next cue: only a model that reads the future can get the early frames of a segment right.
    Two distractor channels: noise, and a slow drift on a scale of hundreds (as pitch in Hz)."""
    rng = np.random.default_rng(seed)
    sequences = []
    for i in range(n):
        labels: list[int] = []
        cues: list[int] = []
        while len(labels) < 60:
            state = int(rng.integers(num_classes))
            length = int(rng.integers(6, 16))
            labels += [state] * length
            cues += [-1] * (length - 1) + [state]
        y = np.array(labels, dtype=np.int64)
        x = np.zeros((num_classes + 2, len(y)), dtype=np.float32)
        for t, c in enumerate(cues):
            if c >= 0:
                x[c, t] = 1.0
        x[num_classes] = rng.normal(size=len(y))
        x[num_classes + 1] = 200.0 + 50.0 * np.sin(np.arange(len(y)) / 17.0 + i)
        sequences.append(Sequence(f"session{i}", x, y))
    return sequences


def _accuracy(probabilities: list[np.ndarray], sequences: list[Sequence]) -> float:
    correct = sum(int((p.argmax(axis=0) == s.labels).sum())
                  for p, s in zip(probabilities, sequences, strict=True))
    return correct / sum(s.num_frames for s in sequences)


# --------------------------------------------------------------------------------------------
# The module


def test_output_shape_and_zero_logits_at_padding() -> None:
    torch.manual_seed(0)
    model = BiGRUClassifier(input_dim=10, num_classes=5, hidden=8, num_layers=2)
    features, mask = padded_batch([31, 64, 9], dim=10)
    logits = model(features, mask)
    assert logits.shape == (1, 3, 5, 64)  # [stages, batch, classes, time]
    assert torch.all(logits[:, 0, :, 31:] == 0) and torch.all(logits[:, 2, :, 9:] == 0)
    assert model.num_stages == 1


def test_padding_does_not_change_outputs_at_real_frames() -> None:
    torch.manual_seed(1)
    model = BiGRUClassifier(input_dim=6, num_classes=4, hidden=8, num_layers=2).eval()
    features, mask = padded_batch([80, 29], dim=6, seed=2)
    # Garbage in the padding must not matter either (collate writes zeros, but nothing relies on it).
    features[1, :, 29:] = 1e3
    with torch.no_grad():
        together = model(features, mask)
        alone = model(features[1:, :, :29], mask[1:, :, :29])
    torch.testing.assert_close(together[:, 1, :, :29], alone[:, 0], rtol=1e-5, atol=1e-5)


def test_packed_and_one_by_one_recurrence_agree() -> None:
    # The GPU path (packing) and the CPU path (one sequence at a time) of the same batch.
    torch.manual_seed(4)
    gru = torch.nn.GRU(5, 6, num_layers=2, batch_first=True, bidirectional=True)
    h = torch.randn(3, 40, 5)
    lengths = torch.tensor([40, 17, 3])
    packed = run_bidirectional(gru, h, lengths, packed=True)
    one_by_one = run_bidirectional(gru, h, lengths, packed=False)
    assert packed.shape == one_by_one.shape == (3, 40, 12)
    torch.testing.assert_close(packed, one_by_one, rtol=1e-5, atol=1e-6)
    assert torch.all(one_by_one[1, 17:] == 0) and torch.all(packed[2, 3:] == 0)
    full = run_bidirectional(gru, h, torch.tensor([40, 40, 40]), packed=True)
    torch.testing.assert_close(full, gru(h)[0])


def test_both_directions_reach_every_frame() -> None:
    # Changing the last frame changes the first frame's output (backward direction) and vice
    # versa (forward direction); a one-directional model would fail one of the two.
    torch.manual_seed(2)
    model = BiGRUClassifier(input_dim=4, num_classes=3, hidden=8, num_layers=1).eval()
    features, mask = padded_batch([20], dim=4, seed=3)
    with torch.no_grad():
        reference = model(features, mask)
        later = features.clone()
        later[0, :, -1] += 3.0
        earlier = features.clone()
        earlier[0, :, 0] += 3.0
        assert not torch.allclose(model(later, mask)[0, 0, :, 0], reference[0, 0, :, 0])
        assert not torch.allclose(model(earlier, mask)[0, 0, :, -1], reference[0, 0, :, -1])


def test_masks_that_are_not_a_prefix_are_refused() -> None:
    model = BiGRUClassifier(input_dim=3, num_classes=2, hidden=4)
    features = torch.zeros(1, 3, 5)
    with pytest.raises(ValueError, match="prefix"):
        model(features, torch.tensor([[[0.0, 1.0, 1.0, 1.0, 1.0]]]))
    with pytest.raises(ValueError, match="at least one real frame"):
        lengths_from_mask(torch.zeros(2, 1, 5))
    assert lengths_from_mask(torch.tensor([[[1.0, 1.0, 0.0]], [[1.0, 1.0, 1.0]]])).tolist() == [2, 3]


def test_normalizer_standardises_each_column_over_all_training_frames() -> None:
    a = Sequence("a", np.array([[1.0, 3.0], [100.0, 100.0], [0.0, 0.0]], dtype=np.float32))
    b = Sequence("b", np.array([[5.0, 7.0, 9.0], [300.0, 300.0, 300.0], [0.0, 0.0, 0.0]],
                               dtype=np.float32))
    model = BiGRUClassifier(input_dim=3, num_classes=2, hidden=4)
    model.fit_normalizer([a, b])
    # Column 0 over the five frames 1, 3, 5, 7, 9: mean 5, population std sqrt(8).
    # Column 1: 100, 100, 300, 300, 300: mean 220, std sqrt(9600). Column 2 is constant: scale 1.
    np.testing.assert_allclose(model.feature_mean.numpy(), [5.0, 220.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(model.feature_scale.numpy(), [np.sqrt(8.0), np.sqrt(9600.0), 1.0],
                               rtol=1e-6)
    with pytest.raises(ValueError, match="4-d"):
        model.fit_normalizer([Sequence("wide", np.zeros((4, 2), dtype=np.float32))])


# --------------------------------------------------------------------------------------------
# Through the shared interface


def test_registered_with_presets_of_the_full_key_set() -> None:
    assert "bigru" in available_models()
    paper = resolve_settings("bigru")
    assert (paper["hidden"], paper["num_layers"], paper["learning_rate"], paper["weight_decay"]) == (
        128, 2, 1e-3, 1e-4)
    demo = resolve_settings("bigru", {"preset": "demo", "hidden": 24.0})
    assert demo["hidden"] == 24 and isinstance(demo["hidden"], int) and demo["epochs"] < paper["epochs"]
    model = build_model("bigru", 12, 5, demo)
    assert isinstance(model, BiGRUClassifier) and model.gru.hidden_size == 24
    # overrides are checked against $defs/bigru_settings of the config schema
    with pytest.raises(InputError, match=r"baseline settings of 'bigru': num_heads: unknown key"):
        resolve_settings("bigru", {"num_heads": 2})
    with pytest.raises(InputError, match=r"hidden: '24' is text, not a number; write it without quotes"):
        resolve_settings("bigru", {"hidden": "24"})
    with pytest.raises(InputError, match=r"input_dropout: 1 is greater than or equal to the maximum of 1"):
        resolve_settings("bigru", {"input_dropout": 1})


def test_learns_a_task_that_needs_the_future(tmp_path: Path) -> None:
    train_set, held_out = cue_at_the_end(16, seed=1), cue_at_the_end(4, seed=2)
    settings = {**TINY, "epochs": 15, "batch_size": 4, "learning_rate": 2e-2,
                "smoothing_weight": 0.0}
    result = train("bigru", train_set, held_out, 3, settings, tmp_path, seed=0, progress=False)
    losses = [r.train_loss for r in result.history]
    assert losses[-1] < 0.1 * losses[0]
    assert result.history[-1].train_accuracy >= 0.95
    assert _accuracy(predict(result.best_checkpoint, held_out, device="cpu"), held_out) >= 0.95

    # The standardisation came from the training sessions only (not from the val set).
    stored = torch.load(result.last_checkpoint, weights_only=True)["state_dict"]
    frames = np.concatenate([s.features for s in train_set], axis=1)
    np.testing.assert_allclose(stored["feature_mean"].numpy(), frames.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(stored["feature_scale"].numpy(), frames.std(axis=1), rtol=1e-4)


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    data = cue_at_the_end(3, seed=4)
    result = train("bigru", data, data[:1], 3, {**TINY, "epochs": 2}, tmp_path, seed=1,
                   progress=False)
    raw = torch.load(result.last_checkpoint, weights_only=True)
    assert raw["model_name"] == "bigru"
    assert raw["hyperparameters"] == {"hidden": 16, "num_layers": 1, "dropout": 0.0,
                                      "input_dropout": 0.0}
    loaded = load_checkpoint(result.last_checkpoint, device="cpu")
    assert isinstance(loaded.model, BiGRUClassifier) and not loaded.model.training
    # Weights and the standardisation buffers come back exactly.
    state = loaded.model.state_dict()
    assert {"feature_mean", "feature_scale"} <= set(state) and set(state) == set(raw["state_dict"])
    assert all(torch.equal(state[k], raw["state_dict"][k]) for k in state)
    assert not torch.all(state["feature_scale"] == 1.0)

    # Sessions of different lengths: one at a time or padded together, the same probabilities.
    unlabelled = [Sequence(s.name, s.features[:, : 40 + 7 * i]) for i, s in enumerate(data)]
    alone = [predict(loaded, [s])[0] for s in unlabelled]
    together = predict(result.last_checkpoint, unlabelled, device="cpu", batch_size=3)
    assert [p.shape for p in together] == [(3, 40), (3, 47), (3, 54)]
    assert all(p.dtype == np.float32 for p in together)
    for p, q in zip(alone, together, strict=True):
        np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-6)


def test_same_seed_same_weights(tmp_path: Path) -> None:
    data = cue_at_the_end(4, seed=3)
    settings = {**TINY, "epochs": 2, "batch_size": 2, "dropout": 0.2, "input_dropout": 0.2}
    runs = [train("bigru", data, None, 3, settings, tmp_path / name, seed=seed, progress=False)
            for name, seed in (("a", 7), ("b", 7), ("c", 8))]
    weights = [torch.load(r.last_checkpoint, weights_only=True)["state_dict"] for r in runs]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert any(not torch.equal(weights[0][k], weights[2][k]) for k in weights[0])
    assert [r.train_loss for r in runs[0].history] == [r.train_loss for r in runs[1].history]

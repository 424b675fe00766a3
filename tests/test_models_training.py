"""Training and prediction interface: loss on hand-worked cases, learning a synthetic task,
reproducibility, checkpoints, settings and presets, batching."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from egoinstruct.errors import InputError
from egoinstruct.models.losses import (
    IGNORE_INDEX,
    masked_cross_entropy,
    segmentation_loss,
    truncated_mse,
)
from egoinstruct.models.segmentation import (
    CHECKPOINT_FORMAT,
    Sequence,
    available_models,
    build_model,
    collate,
    deterministic_algorithms,
    load_checkpoint,
    plot_training_curves,
    predict,
    resolve_device,
    resolve_settings,
    train,
)

from model_utils import one_thread  # noqa: F401 - autouse fixture


def synthetic_steps(n: int, seed: int, num_classes: int = 4, dim: int = 8,
                    noise: float = 0.8) -> list[Sequence]:
    """Sessions that walk through the steps 0, 1, 2, 3, 0, ... for 8-24 frames each;
    each frame's features are its step's fixed prototype plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    prototypes = np.random.default_rng(123).normal(size=(num_classes, dim))
    sequences = []
    for i in range(n):
        length = int(rng.integers(60, 120))
        labels: list[int] = []
        step = int(rng.integers(num_classes))
        while len(labels) < length:
            labels += [step % num_classes] * int(rng.integers(8, 25))
            step += 1
        y = np.array(labels[:length], dtype=np.int64)
        x = prototypes[y].T + noise * rng.normal(size=(dim, length))
        sequences.append(Sequence(f"session{i}", x.astype(np.float32), y))
    return sequences


TINY = {
    "asformer": {"preset": "demo", "num_layers": 4, "num_f_maps": 16, "num_decoders": 1,
                 "dropout": 0.1, "channel_masking_rate": 0.1},
    "mstcn++": {"preset": "demo", "num_layers_pg": 4, "num_layers_r": 3, "num_refinements": 1,
                "num_f_maps": 16, "dropout": 0.1},
}


def _accuracy(probabilities: list[np.ndarray], sequences: list[Sequence]) -> float:
    correct = sum(int((p.argmax(axis=0) == s.labels).sum()) for p, s in zip(probabilities, sequences, strict=True))
    return correct / sum(s.num_frames for s in sequences)


# --------------------------------------------------------------------------------------------
# Loss


def test_loss_on_a_hand_worked_example() -> None:
    # One stage, 2 classes, frames: logits (0, 0) and (0, ln 3); labels 0 and 1.
    # log-probabilities: (-ln 2, -ln 2) and (-ln 4, ln 3/4).
    logits = torch.tensor([[[0.0, 0.0], [0.0, math.log(3.0)]]])  # [batch, classes, time]
    labels = torch.tensor([[0, 1]])
    mask = torch.ones(1, 1, 2)
    ce = (math.log(2.0) + math.log(4.0 / 3.0)) / 2  # -log p(label) per frame, averaged
    smooth = ((-math.log(4.0) + math.log(2.0)) ** 2 + (math.log(0.75) + math.log(2.0)) ** 2) / 2
    assert masked_cross_entropy(logits, labels, mask).item() == pytest.approx(ce, rel=1e-6)
    assert truncated_mse(logits, mask).item() == pytest.approx(smooth, rel=1e-6)
    parts = segmentation_loss(logits, labels, mask, smoothing_weight=0.15)
    assert parts.total.item() == pytest.approx(ce + 0.15 * smooth, rel=1e-6)
    assert parts.total.item() == pytest.approx(0.5387787, rel=1e-6)

    # Two identical stages count twice.
    two = segmentation_loss(torch.stack([logits, logits]), labels, mask)
    assert two.total.item() == pytest.approx(2 * (ce + 0.15 * smooth), rel=1e-6)


def test_smoothing_is_clamped_at_tau_squared() -> None:
    # (0, 0) -> (0, 40): log-probability changes of about -40 + ln 2 and +ln 2.
    logits = torch.tensor([[[0.0, 0.0], [0.0, 40.0]]])
    mask = torch.ones(1, 1, 2)
    expected = (16.0 + math.log(2.0) ** 2) / 2
    assert truncated_mse(logits, mask, clamp=16.0).item() == pytest.approx(expected, rel=1e-5)


def test_loss_ignores_padding_and_unlabelled_frames() -> None:
    logits = torch.tensor([[[0.0, 0.0], [0.0, math.log(3.0)]]])
    labels = torch.tensor([[0, 1]])
    reference = segmentation_loss(logits, labels, torch.ones(1, 1, 2)).total.item()
    # Append a padded frame with a wild prediction and a (wrong) label.
    padded_logits = torch.tensor([[[0.0, 0.0, 50.0], [0.0, math.log(3.0), -50.0]]])
    padded_labels = torch.tensor([[0, 1, 1]])
    padded_mask = torch.tensor([[[1.0, 1.0, 0.0]]])
    padded = segmentation_loss(padded_logits, padded_labels, padded_mask).total.item()
    assert padded == pytest.approx(reference, rel=1e-6)
    # An unlabelled frame leaves the cross-entropy to the labelled one.
    ce = masked_cross_entropy(logits, torch.tensor([[IGNORE_INDEX, 1]]), torch.ones(1, 1, 2))
    assert ce.item() == pytest.approx(math.log(4.0 / 3.0), rel=1e-6)


def test_smoothing_gradient_flows_to_the_later_frame_only() -> None:
    logits = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]], requires_grad=True)
    truncated_mse(logits, torch.ones(1, 1, 2)).backward()
    assert logits.grad is not None
    assert torch.all(logits.grad[0, :, 0] == 0)
    assert torch.any(logits.grad[0, :, 1] != 0)


# --------------------------------------------------------------------------------------------
# Learning


@pytest.mark.parametrize("model_name", ["asformer", "mstcn++"])
def test_tiny_model_learns_a_synthetic_step_task(model_name: str, tmp_path: Path) -> None:
    train_set, held_out = synthetic_steps(12, seed=1), synthetic_steps(4, seed=2)
    settings = {**TINY[model_name], "epochs": 20, "batch_size": 4, "learning_rate": 1e-2}
    result = train(model_name, train_set, held_out, 4, settings, tmp_path, seed=0, progress=False)

    losses = [r.train_loss for r in result.history]
    assert len(losses) == 20
    assert losses[-1] < 0.3 * losses[0]
    assert result.history[-1].train_accuracy >= 0.95
    assert result.best_checkpoint.is_file() and result.last_checkpoint.is_file()
    held_out_accuracy = _accuracy(predict(result.best_checkpoint, held_out, device="cpu"), held_out)
    train_accuracy = _accuracy(predict(result.last_checkpoint, train_set, device="cpu"), train_set)
    assert held_out_accuracy >= 0.95
    assert train_accuracy >= 0.95
    best = max(r.val_accuracy or 0.0 for r in result.history)
    assert result.history[result.best_epoch - 1].val_accuracy == best


def test_same_seed_same_weights_and_predictions(tmp_path: Path) -> None:
    data = synthetic_steps(4, seed=3)
    settings = {**TINY["asformer"], "epochs": 2, "batch_size": 2}
    runs = [train("asformer", data, None, 4, settings, tmp_path / name, seed=seed, progress=False)
            for name, seed in (("a", 7), ("b", 7), ("c", 8))]
    weights = [torch.load(r.last_checkpoint, weights_only=True)["state_dict"] for r in runs]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert any(not torch.equal(weights[0][k], weights[2][k]) for k in weights[0])
    assert [r.train_loss for r in runs[0].history] == [r.train_loss for r in runs[1].history]
    first, second = (predict(r.last_checkpoint, data, device="cpu") for r in runs[:2])
    assert all(np.array_equal(p, q) for p, q in zip(first, second, strict=True))


# --------------------------------------------------------------------------------------------
# Checkpoints, history, prediction


def test_checkpoint_round_trip_and_files(tmp_path: Path) -> None:
    data = synthetic_steps(3, seed=4)
    settings = {**TINY["mstcn++"], "epochs": 3, "checkpoint_every": 2}
    result = train("mstcn++", data, data[:1], 4, settings, tmp_path, seed=1, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "best.pt", "epoch-002.pt", "history.json", "last.pt", "training_curves.png"]

    raw = torch.load(result.last_checkpoint, weights_only=True)
    assert raw["format"] == CHECKPOINT_FORMAT
    assert raw["model_name"] == "mstcn++"
    assert raw["num_classes"] == 4 and raw["input_dim"] == 8 and raw["epoch"] == 3
    assert raw["hyperparameters"] == {"num_layers_pg": 4, "num_layers_r": 3, "num_refinements": 1,
                                      "num_f_maps": 16, "dropout": 0.1}
    assert raw["settings"] == result.settings

    loaded = load_checkpoint(result.last_checkpoint, device="cpu")
    assert loaded.model_name == "mstcn++" and loaded.epoch == 3 and not loaded.model.training
    # The restored model computes what a model given the same weights directly computes.
    fresh = build_model("mstcn++", 8, 4, result.settings)
    fresh.load_state_dict(raw["state_dict"])
    fresh.eval()
    features, _, mask = collate(data[:1])
    with torch.no_grad():
        expected = torch.softmax(fresh(features, mask)[-1], dim=1)[0].numpy()
    np.testing.assert_allclose(predict(loaded, data[:1])[0], expected, rtol=1e-6, atol=1e-7)

    history = json.loads(result.history_path.read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(history[0])
    assert plot_training_curves(result.history_path, tmp_path / "again.png").stat().st_size > 1000


def test_prediction_is_the_same_alone_or_batched(tmp_path: Path) -> None:
    data = synthetic_steps(5, seed=5)
    result = train("asformer", data, None, 4, {**TINY["asformer"], "epochs": 1}, tmp_path,
                   progress=False)
    unlabelled = [Sequence(s.name, s.features) for s in data]
    one_by_one = predict(result.last_checkpoint, unlabelled, device="cpu", batch_size=1)
    batched = predict(result.last_checkpoint, unlabelled, device="cpu", batch_size=3)
    for p, q, s in zip(one_by_one, batched, data, strict=True):
        assert p.shape == (4, s.num_frames) and p.dtype == np.float32
        np.testing.assert_allclose(p.sum(axis=0), 1.0, rtol=1e-5)
        np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-6)

    wrong_dim = [Sequence("other", np.zeros((5, 10), dtype=np.float32))]
    with pytest.raises(ValueError, match="other"):
        predict(result.last_checkpoint, wrong_dim, device="cpu")


def test_collate_pads_and_masks() -> None:
    a = Sequence("a", np.ones((3, 4), dtype=np.float32), np.array([0, 1, 1, 2]))
    b = Sequence("b", np.full((3, 2), 2.0, dtype=np.float32))
    features, labels, mask = collate([a, b])
    assert features.shape == (2, 3, 4) and labels.shape == (2, 4) and mask.shape == (2, 1, 4)
    assert mask[:, 0].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert labels.tolist() == [[0, 1, 1, 2], [IGNORE_INDEX] * 4]
    assert torch.all(features[1, :, 2:] == 0) and torch.all(features[1, :, :2] == 2)


def test_bad_training_data_is_reported_by_sequence(tmp_path: Path) -> None:
    good = synthetic_steps(1, seed=6)[0]
    bad = Sequence("bad_session", good.features, np.full(good.num_frames, 7))
    with pytest.raises(ValueError, match="bad_session.*label 7"):
        train("asformer", [good, bad], None, 4, {"preset": "demo"}, tmp_path, progress=False)
    with pytest.raises(ValueError, match="labels must be"):
        Sequence("short", good.features, good.labels[:-1])


# --------------------------------------------------------------------------------------------
# Settings, devices, determinism


def test_presets_hold_the_published_defaults() -> None:
    assert available_models() == ["asformer", "bigru", "mstcn++"]
    asformer = resolve_settings("asformer")
    assert asformer["preset"] == "paper"
    assert {k: asformer[k] for k in ("num_layers", "num_f_maps", "num_decoders",
                                     "channel_masking_rate", "learning_rate", "weight_decay",
                                     "epochs", "batch_size", "smoothing_weight",
                                     "smoothing_clamp")} == {
        "num_layers": 10, "num_f_maps": 64, "num_decoders": 3, "channel_masking_rate": 0.3,
        "learning_rate": 5e-4, "weight_decay": 1e-5, "epochs": 120, "batch_size": 1,
        "smoothing_weight": 0.15, "smoothing_clamp": 16.0}
    mstcn = resolve_settings("mstcn++")
    assert (mstcn["num_layers_pg"], mstcn["num_layers_r"], mstcn["num_refinements"]) == (11, 10, 3)
    assert resolve_settings("asformer", {"preset": "demo"})["num_layers"] < 10


def test_every_setting_can_be_overridden_and_unknown_ones_are_refused() -> None:
    settings = resolve_settings("asformer", {"preset": "demo", "epochs": 7,
                                             "learning_rate": 1e-3, "num_layers": 3.0})
    assert settings["epochs"] == 7 and settings["learning_rate"] == 1e-3
    assert settings["num_layers"] == 3 and isinstance(settings["num_layers"], int)
    assert resolve_settings("asformer", settings) == settings  # resolved settings pass through
    assert resolve_settings("mstcn++", {"lr_plateau_factor": 0.5})["lr_plateau_factor"] == 0.5
    assert resolve_settings("mstcn++", {"lr_plateau_factor": None})["lr_plateau_factor"] is None
    # overrides are checked against $defs/<model>_settings of the config schema
    where = r"baseline settings of 'asformer': "
    with pytest.raises(InputError, match=where + r"num_stages: unknown key; did you mean 'num_layers'"):
        resolve_settings("asformer", {"num_stages": 4})
    with pytest.raises(InputError, match=where + r"epochs: 2\.5 is not of type 'integer'"):
        resolve_settings("asformer", {"epochs": 2.5})
    with pytest.raises(InputError, match=where + r"epochs: True is not of type 'integer'"):
        resolve_settings("asformer", {"epochs": True})
    with pytest.raises(InputError, match=where + r"batch_size: 0 is less than the minimum of 1"):
        resolve_settings("asformer", {"batch_size": 0})
    with pytest.raises(InputError, match=where + r"learning_rate: 0 is less than or equal to the minimum of 0"):
        resolve_settings("asformer", {"learning_rate": 0})
    with pytest.raises(InputError, match=r"'mstcn\+\+': lr_plateau_factor: 1\.5 is greater than or equal"):
        resolve_settings("mstcn++", {"lr_plateau_factor": 1.5})
    with pytest.raises(InputError, match=where + r"preset: 'huge' is not allowed; choose one of 'paper', 'demo'"):
        resolve_settings("asformer", {"preset": "huge"})
    # YAML 1.1 reads 5e-4 (no dot) as text: refused with the fix, never converted silently
    with pytest.raises(InputError, match=where + r"learning_rate: '5e-4' is text, not a number.*write 5\.0e-4"):
        resolve_settings("asformer", {"learning_rate": "5e-4"})
    with pytest.raises(ValueError, match="unknown segmentation model"):
        resolve_settings("tcn")


def test_device_auto_picks_cuda_only_when_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")


def test_deterministic_mode_is_restored_after_training() -> None:
    before = torch.are_deterministic_algorithms_enabled()
    with deterministic_algorithms():
        assert torch.are_deterministic_algorithms_enabled()
    assert torch.are_deterministic_algorithms_enabled() == before

"""Baselines stage: datasets -> per-fold training -> predictions in the shared contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from egoinstruct.baselines import predict_method, restrict, to_sequence, train_method
from egoinstruct.dataset.assemble import GROUPS, Assembled
from egoinstruct.dataset.table import read_dataset, write_dataset
from egoinstruct.errors import InputError
from egoinstruct.settings.dataset import BaselineMethod
from egoinstruct.tables import read_table, table_metadata

FPS = 5.0
STATES = ["talk", "work"]
STEPS = ["background", "fold", "crease", "stack"]  # origami: background, fold, crease; blocks: background, stack


def synthetic_session(path: Path, name: str, procedure: str, seed: int, frames: int = 120) -> Path:
    """A session whose state is readable from one text feature and whose step follows a visual one."""
    rng = np.random.default_rng(seed)
    talk = (np.arange(frames) // 15) % 2 == 0
    steps = ["background"] * 20 + (["fold"] * 50 + ["crease"] * 50 if procedure == "origami" else ["stack"] * 100)
    features = {g: rng.normal(0, 0.1, (frames, 3)).astype(np.float32) for g in GROUPS}
    features["text"][:, 0] += talk.astype(np.float32) * 2
    step_code = {"background": 0.0, "fold": 1.0, "crease": 2.0, "stack": 3.0}
    features["visual"][:, 0] += np.array([step_code[s] for s in steps], np.float32)
    data = Assembled(
        session=name, procedure=procedure, fps=FPS, t=np.arange(frames) / FPS,
        labels={"steps": steps, "states": ["talk" if x else "work" for x in talk]},
        features=features, feature_names={g: [f"{g}{i}" for i in range(3)] for g in GROUPS},
    )
    write_dataset(path / f"{name}.parquet", data)
    return path / f"{name}.parquet"


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("datasets")
    return [synthetic_session(root, f"s{i}", "origami" if i % 2 else "blocks", i) for i in range(4)]


def test_to_sequence_maps_labels_and_rejects_unknown(sessions: list[Path]) -> None:
    data = read_dataset(sessions[0])
    sequence = to_sequence(data, "states", ["text", "prosody"], STATES)
    assert sequence.features.shape == (6, 120)
    assert set(sequence.labels.tolist()) == {0, 1}
    with pytest.raises(InputError, match="not in the label set"):
        to_sequence(data, "states", ["text"], ["talk"])
    data.labels["steps"][5] = None
    assert to_sequence(data, "steps", ["visual"], STEPS).labels[5] == -100


def test_restrict_renormalises_to_the_sessions_labels() -> None:
    probabilities = np.array([[0.1, 0.5], [0.6, 0.0], [0.3, 0.5]])  # classes a, b, c over 2 frames
    scores = restrict(probabilities, ["a", "b", "c"], ["a", "c"])
    assert np.allclose(scores, [[0.25, 0.75], [0.5, 0.5]])
    assert np.allclose(restrict(np.zeros((3, 1)), ["a", "b", "c"], ["b", "c"]), [[0.5, 0.5]])
    with pytest.raises(InputError, match="retrain"):
        restrict(probabilities, ["a", "b", "c"], ["z"])


@pytest.mark.parametrize(
    ("method", "task", "groups", "classes"),
    [
        ({"model": "majority"}, "states", [], STATES),
        ({"model": "gbdt", "modalities": "text", "settings": {"preset": "demo", "max_iter": 20}}, "states",
         ["text"], STATES),
        ({"model": "asformer", "modalities": "visual", "settings": {"preset": "demo", "epochs": 25}}, "steps",
         ["visual"], STEPS),
        ({"model": "bigru", "modalities": "text", "settings": {"preset": "demo", "epochs": 15}}, "states",
         ["text"], STATES),
    ],
    ids=["majority", "gbdt", "asformer", "bigru"],
)
def test_train_then_predict_a_held_out_session(
    sessions: list[Path], tmp_path: Path, method: dict, task: str, groups: list[str], classes: list[str]
) -> None:
    import torch

    torch.set_num_threads(1)
    # a method as the config's baselines.methods.<task>.<name> entry (schema defaults filled in)
    spec = BaselineMethod.from_mapping({"name": method["model"], "modalities": None, "settings": {}, "enabled": True,
                                        **method})
    fold_dir = tmp_path / "fold0"
    summary = train_method(spec, task, sessions[1:], groups, classes, fold_dir / "model.ckpt",
                           fold_dir / "training.json", fold_dir / "artifacts", seed=0, device="cpu", threads=1)
    # what the training leaves besides the model and its record lives in the artifacts folder only
    assert sorted(p.name for p in fold_dir.iterdir()) == ["artifacts", "model.ckpt", "training.json"]
    assert summary["train_sessions"] == ["s1", "s2", "s3"] and sum(summary["class_counts"]) == 360
    record = json.loads((fold_dir / "training.json").read_text())
    assert record["model"] == method["model"]
    if method["model"] in ("asformer", "bigru"):  # epoch-trained: the history the report draws curves from
        assert [r["epoch"] for r in record["history"]] == list(range(1, method["settings"]["epochs"] + 1))
        assert {"train_loss", "train_accuracy"} <= set(record["history"][0])
    else:
        assert "history" not in record
    held_out_labels = ["background", "stack"] if task == "steps" else STATES  # s0 is a blocks session
    out = tmp_path / "s0.parquet"
    scores = predict_method(spec, fold_dir / "model.ckpt", sessions[0], task, groups, classes,
                            held_out_labels, 3, out, device="cpu", threads=1)
    table = read_table(out, "predictions").to_pandas()
    assert len(table) == 120 and (table.fold == 3).all()
    assert set(table.label) <= set(held_out_labels)
    assert [c for c in table.columns if c.startswith("score_")] == [f"score_{x}" for x in held_out_labels]
    assert np.allclose(scores.sum(axis=1), 1.0)
    assert json.loads(table_metadata(out)["label_set"]) == held_out_labels
    truth = read_dataset(sessions[0]).labels[task]
    accuracy = float(np.mean([p == t for p, t in zip(table.label, truth, strict=True)]))
    if method["model"] == "majority":
        assert table.label.nunique() == 1
    else:  # the synthetic task is easy: every learned model must clearly beat chance
        assert accuracy > 0.8, accuracy

"""Train a baseline method on a fold's sessions and predict held-out sessions (rules
``train_{task}`` and ``predict_{task}``).

A *method* (config ``baselines.methods.{task}.{name}``) is a model on a modality set:

* sequence models of :mod:`egoinstruct.models.segmentation`'s registry (``asformer``,
  ``mstcn++``, ``bigru``): trained for the preset's fixed number of epochs (the published
  recipes select no epoch on held-out data), the last epoch's weights are the fold's model;
* ``gbdt``: gradient boosting over window aggregates (:mod:`egoinstruct.models.tabular`);
* ``majority``: the most frequent training label (:mod:`egoinstruct.models.majority`).

Steps share one class list across procedures (labels of the same name are one class); a
session's prediction is restricted to its own procedure's labels and renormalised, so no
method can answer with another procedure's step. Predictions follow the shared contract
(:mod:`egoinstruct.predictions`) with the fold id and one score column per label.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from egoinstruct.dataset.table import SessionDataset, group_ranges, read_dataset
from egoinstruct.errors import InputError
from egoinstruct.io import atomic_path, write_json
from egoinstruct.models.losses import IGNORE_INDEX
from egoinstruct.models.segmentation import MODELS
from egoinstruct.models.segmentation import Sequence as LabelledSequence
from egoinstruct.predictions import write_predictions
from egoinstruct.settings.dataset import BaselineMethod

TABULAR = "gbdt"
MAJORITY = "majority"


def is_sequence_model(model: str) -> bool:
    return model in MODELS


def to_sequence(data: SessionDataset, task: str, groups: Sequence[str], classes: Sequence[str]) -> LabelledSequence:
    """A session as model input: features ``[D, T]`` of ``groups`` and class indices (-100 where
    unannotated). ``groups`` empty (majority) gives a one-row zero feature."""
    index = {label: i for i, label in enumerate(classes)}
    labels = data.labels[task]
    unknown = sorted({label for label in labels if label is not None and label not in index})
    if unknown:
        raise InputError(
            f"session {data.session}: {task} label(s) {unknown} are not in the label set "
            f"({', '.join(classes)}); fix the annotations or the label files in resources/labels"
        )
    y = np.array([IGNORE_INDEX if label is None else index[label] for label in labels], dtype=np.int64)
    features = data.matrix(groups).T if groups else np.zeros((1, len(y)), dtype=np.float32)
    return LabelledSequence(name=data.session, features=features, labels=y)


def load_sequences(paths: Sequence[str | Path], task: str, groups: Sequence[str],
                   classes: Sequence[str]) -> tuple[list[LabelledSequence], dict[str, tuple[int, int]], float]:
    """Read datasets as sequences, plus each group's column range in the features and the rate."""
    sequences, names, rates = [], {}, set()
    for path in paths:
        data = read_dataset(path, groups or [])
        sequences.append(to_sequence(data, task, groups, classes))
        names = data.feature_names
        rates.add(data.fps)
    if len(rates) != 1:
        raise InputError(f"datasets {', '.join(map(str, paths))} have different frame rates {sorted(rates)}; "
                         "rerun the assemble rule for all sessions")
    return sequences, group_ranges(names, groups), rates.pop()


def _class_counts(sequences: Sequence[LabelledSequence], num_classes: int) -> list[int]:
    labels = np.concatenate([s.labels for s in sequences if s.labels is not None])
    return np.bincount(labels[labels >= 0], minlength=num_classes).astype(int).tolist()


def train_method(
    method: BaselineMethod,
    task: str,
    dataset_paths: Sequence[str | Path],
    groups: Sequence[str],
    classes: Sequence[str],
    model_path: str | Path,
    summary_path: str | Path,
    artifacts_dir: str | Path,
    seed: int,
    device: str,
    threads: int | None = None,
    log: logging.Logger | None = None,
) -> dict[str, Any]:
    """Train ``method`` on the sessions of ``dataset_paths``; write the model and a summary.

    What the training leaves besides goes to ``artifacts_dir`` (a declared output folder): the
    sequence models' ``last.pt``, ``best.pt``, ``history.json`` and ``training_curves.png``,
    gradient boosting's ``model.joblib`` and ``training.json``; the majority model leaves none.
    """
    logger = log or logging.getLogger(__name__)
    started = time.perf_counter()
    model = method.model
    sequences, ranges, fps = load_sequences(dataset_paths, task, groups, classes)
    counts = _class_counts(sequences, len(classes))
    if not sum(counts):
        raise InputError(f"no annotated {task} frames in the training sessions "
                         f"({', '.join(s.name for s in sequences)}); check the annotations")
    logger.info("%s (%s) on %s: %d sessions, %d labelled frames, input %s", model, task,
                ", ".join(s.name for s in sequences), len(sequences), sum(counts),
                {g: r[1] - r[0] for g, r in ranges.items()})
    fold_dir = Path(artifacts_dir)
    fold_dir.mkdir(parents=True, exist_ok=True)
    details: dict[str, Any]
    if is_sequence_model(model):
        from egoinstruct.models.segmentation import train

        result = train(model, sequences, None, len(classes), method.settings, fold_dir,
                       seed=seed, device=device, log=logger)
        with atomic_path(model_path) as tmp:
            shutil.copyfile(result.last_checkpoint, tmp)
        last = result.history[-1]
        details = {"settings": result.settings, "device": result.device, "epochs": len(result.history),
                   "final_train_loss": last.train_loss, "final_train_accuracy": last.train_accuracy,
                   "curves": result.curves_path.name,
                   # every epoch's record, so the report can draw the curves from this declared output
                   "history": [asdict(record) for record in result.history]}
    elif model == TABULAR:
        from egoinstruct.models.tabular import train_tabular

        settings = {"fps": fps, **(method.settings)}
        tabular = train_tabular(sequences, len(classes), settings, ranges, fold_dir, seed=seed, log=logger,
                                threads=threads)
        with atomic_path(model_path) as tmp:
            shutil.copyfile(tabular.model_path, tmp)
        details = {"settings": tabular.settings, "n_features": tabular.n_features,
                   "n_train_frames": tabular.n_train_frames, "n_iter": tabular.n_iter,
                   "final_train_accuracy": tabular.train_accuracy}
    elif model == MAJORITY:
        from egoinstruct.models.majority import fit_majority

        index = fit_majority(sequences, len(classes))
        write_json(model_path, {"model": MAJORITY, "class_index": index, "label": classes[index],
                                "num_classes": len(classes)})
        details = {"label": classes[index]}
    else:
        raise InputError(f"unknown baseline model {model!r}; use one of {sorted(MODELS)}, {TABULAR}, {MAJORITY}")
    summary = {
        "task": task, "model": model, "modalities": method.modalities, "groups": list(groups),
        "classes": list(classes), "train_sessions": [s.name for s in sequences], "class_counts": counts,
        "seed": seed, "seconds": time.perf_counter() - started, **details,
    }
    write_json(summary_path, summary)
    return summary


def predict_method(
    method: BaselineMethod,
    model_path: str | Path,
    dataset_path: str | Path,
    task: str,
    groups: Sequence[str],
    classes: Sequence[str],
    session_labels: Sequence[str],
    fold: int,
    output: str | Path,
    device: str,
    threads: int | None = None,
    log: logging.Logger | None = None,
) -> np.ndarray:
    """Predict one held-out session and write its predictions; returns ``[T, labels]`` scores."""
    logger = log or logging.getLogger(__name__)
    model = method.model
    data = read_dataset(dataset_path, groups or [])
    sequence = to_sequence(data, task, groups, classes)
    if is_sequence_model(model):
        from egoinstruct.models.segmentation import predict

        probabilities = predict(model_path, [sequence], device=device)[0]
    elif model == TABULAR:
        from egoinstruct.models.tabular import predict_tabular

        probabilities = predict_tabular(model_path, [sequence], threads=threads)[0]
    elif model == MAJORITY:
        from egoinstruct.models.majority import predict_majority

        saved = json.loads(Path(model_path).read_text())
        probabilities = predict_majority(int(saved["class_index"]), [sequence], len(classes))[0]
    else:
        raise InputError(f"unknown baseline model {model!r}")
    scores = restrict(probabilities, classes, session_labels)
    labels = [session_labels[i] for i in scores.argmax(axis=1)]
    write_predictions(output, data.t, labels, session_labels, scores, {
        "session": data.session, "task": task, "method_model": model, "fold": str(fold),
        "groups": json.dumps(list(groups)), "model_path": str(model_path),
    }, fold=fold)
    logger.info("%s: %d frames predicted with fold %d's %s", data.session, len(labels), fold, model)
    return scores


def restrict(probabilities: np.ndarray, classes: Sequence[str], allowed: Sequence[str]) -> np.ndarray:
    """Scores ``[T, len(allowed)]`` from class probabilities ``[C, T]``: the allowed labels'
    probabilities renormalised (uniform where a model gave them none)."""
    missing = [label for label in allowed if label not in classes]
    if missing:
        raise InputError(f"label(s) {missing} are not among the model's classes; retrain the model")
    picked = np.asarray(probabilities, dtype=np.float64)[[list(classes).index(a) for a in allowed]].T
    total = picked.sum(axis=1, keepdims=True)
    return np.where(total > 0, picked / np.where(total > 0, total, 1.0), 1.0 / len(allowed))

"""The majority-class reference for frame-wise classification.

Job: the floor every method is compared with. It predicts, for every frame of every held-out
session, the class that is most frequent among the labelled frames of the training fold. A model
that does not beat it in accuracy has learned nothing usable; its macro-F1 shows how much of a
model's accuracy is class imbalance.
"""

from __future__ import annotations

import numpy as np

from egoinstruct.models.losses import IGNORE_INDEX
from egoinstruct.models.segmentation import Sequence, _check_training_set


def class_counts(train_set: list[Sequence], num_classes: int) -> np.ndarray:
    """Labelled frames per class ``[C]`` (int64); -100 frames are not counted.

    Raises:
        ValueError: no sequences, a sequence without labels or labelled frames, or a label
            outside ``0..num_classes - 1``.
    """
    _check_training_set(train_set, num_classes, "training set")
    counts = np.zeros(num_classes, dtype=np.int64)
    for s in train_set:
        assert s.labels is not None  # checked above
        labelled = s.labels[s.labels != IGNORE_INDEX]
        counts += np.bincount(labelled, minlength=num_classes)
    return counts


def fit_majority(train_set: list[Sequence], num_classes: int) -> int:
    """The most frequent class among the labelled frames; the lowest index wins a tie."""
    return int(np.argmax(class_counts(train_set, num_classes)))


def predict_majority(class_index: int, sequences: list[Sequence], num_classes: int) -> list[np.ndarray]:
    """One-hot probabilities ``[C, T]`` (float32) of ``class_index`` for each sequence, in order."""
    if not 0 <= class_index < num_classes:
        raise ValueError(f"class index {class_index} outside 0..{num_classes - 1}")
    results = []
    for s in sequences:
        probabilities = np.zeros((num_classes, s.num_frames), dtype=np.float32)
        probabilities[class_index] = 1.0
        results.append(probabilities)
    return results

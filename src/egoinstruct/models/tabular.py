"""Conversation-state classification: gradient boosting over window aggregates of frame features.

Job: the strong non-neural baseline for conversation states. Each frame becomes one row of a
table: for every (reduced) feature column, the frame's own value and the mean, standard deviation
and trend of that column over a centred window of ``window_s`` seconds. A
:class:`~sklearn.ensemble.HistGradientBoostingClassifier` learns the state from these rows. The
window gives each frame the context a state needs (a turn lasts seconds, not one frame) without
a sequence model; boosted trees cope with the mix of scales and with the odd irrelevant column.

Contract.

* Input: :class:`~egoinstruct.models.segmentation.Sequence` objects (``features [D, T]``,
  ``labels [T]`` with -100 for unannotated frames) at the frame rate ``fps`` (a setting), and
  ``groups``: the column range ``(start, stop)`` of each feature group within ``D``. Groups wider
  than ``pca_width_threshold`` columns (CNN and sentence embeddings) are reduced to
  ``pca_components`` principal components, fitted on frames of the training sessions only;
  narrower groups are used as they are. Columns in no group form one more group, ``"ungrouped"``,
  under the same rule (``groups=None``: every column is ``"ungrouped"``).
* Training rows: the labelled frames of the training sessions (every ``frame_stride``-th one);
  -100 frames never enter the classifier (they still enter the window aggregates of their
  neighbours and the PCA, which use no labels).
* Early stopping is off by default: neighbouring frames are nearly identical, so scikit-learn's
  own random frame-level validation split would leak and stop too late. With
  ``validation_fraction > 0`` a seeded share of the training *sessions* is held out, boosting
  runs until their loss has not improved for ``n_iter_no_change`` iterations, and the model is
  then refitted on all training sessions with the iteration count of the lowest held-out loss. (The default ``early_stopping="auto"`` of scikit-learn is
  never used: it would switch itself on above 10 000 rows with the leaky split.)
* Output: :func:`predict_tabular` gives ``[C, T]`` float32 probabilities for all ``num_classes``;
  a class absent from the training fold has a zero row.
* Reproducible: the PCA frame sample, the PCA solver, the boosting (bin subsample, feature
  subsample) and the validation split all draw from ``seed``.

Settings are a flat dict like the segmentation models': ``"preset"`` (``"paper"``, the full-data
setting, or ``"demo"``) plus overrides; :func:`resolve_tabular_settings` validates them and
unknown keys are an error. scikit-learn is imported with this module, which is why the package
``egoinstruct.models`` does not import it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from egoinstruct.config import validate_definition
from egoinstruct.models.losses import IGNORE_INDEX
from egoinstruct.models.majority import class_counts
from egoinstruct.models.segmentation import Sequence, integral

TABULAR_FORMAT = "egoinstruct.tabular-model"
TABULAR_VERSION = 1
UNGROUPED = "ungrouped"
#: Order of the aggregates per column in a feature row (and in :func:`window_aggregates`).
AGGREGATES = ("value", "mean", "std", "trend")

_LOG = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Settings

TABULAR_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {
        # Features: a 4 s window (a short turn) at the assembled tables' 5 fps; embeddings
        # reduced to 16 components each; at most 50 000 frames to fit each PCA.
        "fps": 5.0, "window_s": 4.0, "pca_components": 16, "pca_width_threshold": 64,
        "pca_max_frames": 50_000, "frame_stride": 1,
        # Boosting: scikit-learn's defaults except more iterations, larger leaves and some L2
        # (frames of one session are strongly correlated, so small leaves overfit sessions);
        # balanced class weights because macro-F1 is a headline metric and states are skewed.
        "learning_rate": 0.1, "max_iter": 300, "max_leaf_nodes": 31, "min_samples_leaf": 40,
        "l2_regularization": 1.0, "max_features": 1.0, "class_weight": "balanced",
        "validation_fraction": 0.0, "n_iter_no_change": 20,
    },
}
TABULAR_PRESETS["demo"] = {
    **TABULAR_PRESETS["paper"],
    # Seconds per fold on the demo sessions.
    "pca_components": 8, "max_iter": 60, "min_samples_leaf": 20,
}

def resolve_tabular_settings(settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The complete tabular settings: a preset (default ``"paper"``) with overrides applied.

    A resolved dict passes through unchanged.

    Raises:
        ValueError: unknown preset.
        InputError: an unknown key, or a value of the wrong type or range — checked against
            ``$defs/gbdt_settings`` of the config schema, the one place these rules are written down.
    """
    given = dict(settings or {})
    validate_definition("gbdt_settings", given, "baseline settings of 'gbdt'")
    preset = str(given.pop("preset", "paper"))
    if preset not in TABULAR_PRESETS:
        raise ValueError(f"unknown tabular preset {preset!r}; available: {sorted(TABULAR_PRESETS)}")
    resolved: dict[str, Any] = {"preset": preset, **TABULAR_PRESETS[preset]}
    resolved.update({key: integral(value, resolved.get(key)) for key, value in given.items()})
    return resolved


def half_window_frames(settings: Mapping[str, Any]) -> int:
    """``h`` of the centred window ``t - h .. t + h``: ``round(window_s * fps / 2)`` (half up)."""
    return int(math.floor(float(settings["window_s"]) * float(settings["fps"]) / 2.0 + 0.5))


# --------------------------------------------------------------------------------------------
# Window aggregates


def window_aggregates(x: np.ndarray, half_width: int) -> np.ndarray:
    """Per frame and column: value, window mean, window std, trend; ``[T, K]`` -> ``[T, 4K]``.

    The window of frame ``t`` is ``t - h .. t + h`` cut to the sequence (``h = half_width``), so
    edge frames average over fewer frames instead of over invented padding. The std is the
    population std (ddof 0). The trend is the mean of the second half-window ``t .. t + h``
    minus that of the first ``t - h .. t``; both halves contain ``t``, so neither is ever empty
    and the trend is 0 when ``h = 0``. Output columns: all values, then all means, all stds,
    all trends (the order of :data:`AGGREGATES`). Prefix sums in float64 over the column-centred
    data keep it exact enough for long sessions and large offsets; the cost is O(T·K).
    """
    if x.ndim != 2:
        raise ValueError(f"window_aggregates: expected [T, K], got shape {x.shape}")
    if half_width < 0:
        raise ValueError(f"window_aggregates: half_width must be >= 0, got {half_width}")
    length = x.shape[0]
    offset = x.mean(axis=0, dtype=np.float64)
    centred = x.astype(np.float64) - offset
    zeros = np.zeros((1, x.shape[1]))
    sums = np.concatenate([zeros, np.cumsum(centred, axis=0)])
    squares = np.concatenate([zeros, np.cumsum(centred**2, axis=0)])
    t = np.arange(length)
    lo = np.maximum(t - half_width, 0)
    hi = np.minimum(t + half_width, length - 1)

    def span_sum(prefix: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return prefix[b + 1] - prefix[a]

    count = (hi - lo + 1)[:, None].astype(np.float64)
    mean = span_sum(sums, lo, hi) / count
    variance = span_sum(squares, lo, hi) / count - mean**2
    std = np.sqrt(np.clip(variance, 0.0, None))
    first = span_sum(sums, lo, t) / (t - lo + 1)[:, None]
    second = span_sum(sums, t, hi) / (hi - t + 1)[:, None]
    columns = [x.astype(np.float64), mean + offset, std, second - first]
    return np.concatenate(columns, axis=1).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Feature groups and their reduction


@dataclass
class GroupReduction:
    """One feature group: its columns in ``D`` and, when it is wide, the PCA that reduces it."""

    name: str
    columns: np.ndarray  # int64 indices into D
    pca: PCA | None = None

    @property
    def width(self) -> int:
        return int(self.columns.size)

    @property
    def output_names(self) -> list[str]:
        if self.pca is None:
            return [f"{self.name}.{j}" for j in range(self.width)]
        return [f"{self.name}.pc{j}" for j in range(int(self.pca.n_components_))]

    def reduce(self, features: np.ndarray) -> np.ndarray:
        """``features [D, T]`` -> this group's columns ``[T, k]`` (PCA-projected when reduced)."""
        block = features[self.columns].T
        return block if self.pca is None else self.pca.transform(block).astype(np.float32)


def resolve_groups(groups: Mapping[str, tuple[int, int]] | None, input_dim: int) -> list[GroupReduction]:
    """Check the column ranges and add the ``"ungrouped"`` remainder; ordered by first column.

    Raises:
        ValueError: a range outside ``0..input_dim``, empty, overlapping another, or a group
            named ``"ungrouped"`` (reserved for the remainder).
    """
    taken = np.full(input_dim, "", dtype=object)
    result: list[GroupReduction] = []
    for name, bounds in (groups or {}).items():
        start, stop = (int(b) for b in bounds)
        if name == UNGROUPED:
            raise ValueError(f"feature group name {UNGROUPED!r} is reserved for columns in no group")
        if not 0 <= start < stop <= input_dim:
            raise ValueError(f"feature group {name!r}: column range ({start}, {stop}) is empty or "
                             f"outside 0..{input_dim}")
        clash = sorted({str(v) for v in taken[start:stop] if v})
        if clash:
            raise ValueError(f"feature group {name!r} overlaps group(s) {clash}")
        taken[start:stop] = name
        result.append(GroupReduction(name, np.arange(start, stop, dtype=np.int64)))
    rest = np.flatnonzero(taken == "")
    if rest.size:
        result.append(GroupReduction(UNGROUPED, rest.astype(np.int64)))
    return sorted(result, key=lambda g: int(g.columns[0]))


def _sample_frames(sequences: list[Sequence], limit: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Frame indices per sequence, at most ``limit`` in all, drawn uniformly over all frames."""
    lengths = np.array([s.num_frames for s in sequences])
    total = int(lengths.sum())
    if total <= limit:
        return [np.arange(n) for n in lengths]
    chosen = np.sort(rng.choice(total, size=limit, replace=False))
    starts = np.concatenate([[0], np.cumsum(lengths)])
    return [chosen[(chosen >= a) & (chosen < b)] - a for a, b in zip(starts[:-1], starts[1:], strict=True)]


@dataclass
class FeatureExtractor:
    """Fitted group reductions plus the window: turns a sequence into its table ``[T, F]``."""

    groups: list[GroupReduction]
    half_width: int
    input_dim: int

    @property
    def column_names(self) -> list[str]:
        """The reduced columns, before aggregation."""
        return [name for g in self.groups for name in g.output_names]

    @property
    def feature_names(self) -> list[str]:
        """One name per table column: ``"<column>:<aggregate>"``."""
        columns = self.column_names
        return [f"{c}:{a}" for a in AGGREGATES for c in columns]

    def transform(self, sequence: Sequence) -> np.ndarray:
        """The table of ``sequence``: ``[T, 4 * reduced columns]`` float32."""
        if sequence.input_dim != self.input_dim:
            raise ValueError(f"sequence {sequence.name!r} has {sequence.input_dim}-d features; "
                             f"the model was fitted on {self.input_dim}")
        reduced = np.concatenate([g.reduce(sequence.features) for g in self.groups], axis=1)
        return window_aggregates(reduced, self.half_width)


def fit_feature_extractor(
    train_set: list[Sequence],
    groups: Mapping[str, tuple[int, int]] | None,
    settings: Mapping[str, Any],
    seed: int = 0,
    log: logging.Logger | None = None,
) -> FeatureExtractor:
    """Fit the PCA of every wide group on frames of ``train_set`` (labels unused) and fix the window.

    At most ``pca_max_frames`` frames, drawn with ``seed`` uniformly over all training frames,
    fit each PCA; a group keeps ``min(pca_components, width, frames)`` components.
    """
    logger = log or _LOG
    resolved = resolve_tabular_settings(settings)
    if not train_set:
        raise ValueError("fit_feature_extractor: no sequences")
    dims = {s.input_dim for s in train_set}
    if len(dims) != 1:
        raise ValueError(f"sequences have different feature dimensions: {sorted(dims)}")
    input_dim = dims.pop()
    reductions = resolve_groups(groups, input_dim)
    rng = np.random.default_rng(seed)
    sample = _sample_frames(train_set, int(resolved["pca_max_frames"]), rng)
    n_frames = int(sum(len(i) for i in sample))
    for group in reductions:
        if group.width <= int(resolved["pca_width_threshold"]):
            continue
        block = np.concatenate([s.features[group.columns][:, i].T
                                for s, i in zip(train_set, sample, strict=True)])
        components = min(int(resolved["pca_components"]), group.width, n_frames)
        group.pca = PCA(n_components=components, random_state=seed).fit(block)
        logger.info("tabular: group %r reduced from %d to %d columns by PCA on %d training "
                    "frames (%.1f %% of the variance)", group.name, group.width, components,
                    n_frames, 100.0 * float(group.pca.explained_variance_ratio_.sum()))
    return FeatureExtractor(groups=reductions, half_width=half_window_frames(resolved),
                            input_dim=input_dim)


# --------------------------------------------------------------------------------------------
# Model, training, prediction


@dataclass
class TabularModel:
    """Everything :func:`predict_tabular` needs: what ``model.joblib`` holds."""

    settings: dict[str, Any]
    num_classes: int
    extractor: FeatureExtractor
    classifier: HistGradientBoostingClassifier | None
    #: The only class of a training fold with one class (then ``classifier`` is ``None``).
    constant_class: int | None = None
    seed: int = 0
    format: str = TABULAR_FORMAT
    format_version: int = TABULAR_VERSION
    sklearn_version: str = field(default_factory=lambda: str(sklearn.__version__))

    @property
    def input_dim(self) -> int:
        return self.extractor.input_dim

    def probabilities_from_table(self, table: np.ndarray) -> np.ndarray:
        """``table [T, F]`` -> ``[C, T]`` float32 with zero rows for classes absent in training."""
        out = np.zeros((self.num_classes, table.shape[0]), dtype=np.float32)
        if self.classifier is None:
            assert self.constant_class is not None
            out[self.constant_class] = 1.0
        else:
            classes = self.classifier.classes_.astype(np.int64)
            out[classes] = self.classifier.predict_proba(table).T
        return out

    def predict_proba(self, sequence: Sequence) -> np.ndarray:
        """Class probabilities ``[C, T]`` float32 of one sequence."""
        return self.probabilities_from_table(self.extractor.transform(sequence))


@dataclass(frozen=True)
class TabularTrainResult:
    """What :func:`train_tabular` produced."""

    model: TabularModel
    model_path: Path
    info_path: Path
    settings: dict[str, Any]
    n_features: int
    n_train_frames: int
    class_counts: list[int]
    train_accuracy: float
    n_iter: int
    seconds: float


def _threads(threads: int | None) -> Any:
    """Limit OpenMP (the boosting) and BLAS (the PCA) to ``threads``; no limit when ``None``."""
    return nullcontext() if threads is None else threadpool_limits(limits=int(threads))


def _classifier(settings: Mapping[str, Any], seed: int, max_iter: int,
                early_stopping: bool) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        learning_rate=float(settings["learning_rate"]), max_iter=max_iter,
        max_leaf_nodes=int(settings["max_leaf_nodes"]),
        min_samples_leaf=int(settings["min_samples_leaf"]),
        l2_regularization=float(settings["l2_regularization"]),
        max_features=float(settings["max_features"]), class_weight=settings["class_weight"],
        early_stopping=early_stopping, n_iter_no_change=int(settings["n_iter_no_change"]),
        scoring="loss", random_state=seed,
    )


def _early_stopped_iterations(x: np.ndarray, y: np.ndarray, session: np.ndarray, n_sessions: int,
                              settings: Mapping[str, Any], seed: int,
                              logger: logging.Logger) -> int | None:
    """Boosting iterations chosen on a seeded session-level hold-out, or ``None`` if impossible."""
    n_val = max(1, int(round(float(settings["validation_fraction"]) * n_sessions)))
    if n_sessions < 2 or n_val >= n_sessions:
        logger.warning("tabular: early stopping needs sessions on both sides of the split; "
                       "%d training session(s), so it is off", n_sessions)
        return None
    held = np.random.default_rng(seed).permutation(n_sessions)[:n_val]
    is_val = np.isin(session, held)
    fit_classes = np.unique(y[~is_val])
    keep_val = is_val & np.isin(y, fit_classes)
    if fit_classes.size < 2 or not keep_val.any():
        logger.warning("tabular: the session hold-out leaves too few classes or frames; "
                       "early stopping is off")
        return None
    probe = _classifier(settings, seed, int(settings["max_iter"]), early_stopping=True)
    probe.fit(x[~is_val], y[~is_val], X_val=x[keep_val], y_val=y[keep_val])
    # validation_score_[i] is the negative held-out loss after i iterations (i = 0: before the
    # first). Boosting ran n_iter_no_change past the best; the refit stops at the best.
    best = max(1, int(np.argmax(probe.validation_score_)))
    logger.info("tabular: early stopping on %d held-out session(s) (%d frames): best held-out "
                "loss after %d of at most %d iterations", n_val, int(keep_val.sum()), best,
                int(settings["max_iter"]))
    return best


def train_tabular(
    train_set: list[Sequence],
    num_classes: int,
    settings: Mapping[str, Any] | None,
    groups: Mapping[str, tuple[int, int]] | None,
    out_dir: str | Path,
    seed: int = 0,
    log: logging.Logger | None = None,
    progress: bool = True,
    threads: int | None = None,
) -> TabularTrainResult:
    """Fit the reductions and the boosted trees on one fold's training sessions.

    Writes ``model.joblib`` (a :class:`TabularModel`) and ``training.json`` (settings, seed,
    groups and their reduction, window, feature and frame counts, class counts, iterations,
    training accuracy, timings) to ``out_dir``.

    Args:
        train_set: labelled sequences of the fold's training sessions, all with the same ``D``.
        num_classes: labels are ``0..num_classes - 1`` (or -100).
        settings: ``{"preset": "paper" | "demo", <key>: <override>}``, see
            :func:`resolve_tabular_settings`.
        groups: ``{name: (start, stop)}`` column ranges of the feature groups within ``D``.
        out_dir: created if missing.
        seed: seeds the PCA sample and solver, the boosting and the validation split.
        log: progress lines (default: this module's logger).
        progress: tqdm bar over sessions while building the table (stderr).
        threads: OpenMP/BLAS threads for the PCA and the boosting (``None``: the library default,
            all cores); a Snakemake rule passes its ``threads``.
    """
    logger = log or _LOG
    resolved = resolve_tabular_settings(settings)
    counts = class_counts(train_set, num_classes)  # also checks the labels
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    with _threads(threads):
        extractor = fit_feature_extractor(train_set, groups, resolved, seed, logger)
        timings["pca_s"] = time.perf_counter() - started

        tick = time.perf_counter()
        stride = int(resolved["frame_stride"])
        tables, targets, sessions = [], [], []
        for index, s in enumerate(tqdm(train_set, desc="tabular features", unit="session",
                                       disable=not progress, mininterval=1.0)):
            assert s.labels is not None
            rows = np.flatnonzero(s.labels != IGNORE_INDEX)[::stride]
            tables.append(extractor.transform(s)[rows])
            targets.append(s.labels[rows])
            sessions.append(np.full(rows.size, index))
        x, y, session = np.concatenate(tables), np.concatenate(targets), np.concatenate(sessions)
        timings["features_s"] = time.perf_counter() - tick
        logger.info("tabular: %d training frames x %d features from %d sessions (window %d "
                    "frames, stride %d)", x.shape[0], x.shape[1], len(train_set),
                    2 * extractor.half_width + 1, stride)

        tick = time.perf_counter()
        present = np.flatnonzero(np.bincount(y, minlength=num_classes))
        classifier: HistGradientBoostingClassifier | None = None
        constant: int | None = None
        n_iter = 0
        early: int | None = None
        if present.size == 1:
            constant = int(present[0])
            logger.warning("tabular: the training fold holds only class %d; predicting it "
                           "everywhere", constant)
        else:
            max_iter = int(resolved["max_iter"])
            if resolved["validation_fraction"] > 0:
                early = _early_stopped_iterations(x, y, session, len(train_set), resolved, seed,
                                                  logger)
            logger.info("tabular: fitting gradient boosting, %d iterations at most, %d classes",
                        early or max_iter, present.size)
            classifier = _classifier(resolved, seed, early or max_iter, early_stopping=False)
            classifier.fit(x, y)
            n_iter = int(classifier.n_iter_)
        timings["fit_s"] = time.perf_counter() - tick

        model = TabularModel(settings=resolved, num_classes=num_classes, extractor=extractor,
                             classifier=classifier, constant_class=constant, seed=seed)
        predicted = model.probabilities_from_table(x).argmax(axis=0)
    train_accuracy = float((predicted == y).mean())
    timings["total_s"] = time.perf_counter() - started

    model_path, info_path = out / "model.joblib", out / "training.json"
    tmp = model_path.with_name(model_path.name + ".tmp")
    joblib.dump(model, tmp)
    os.replace(tmp, model_path)
    info = {
        "format": TABULAR_FORMAT, "format_version": TABULAR_VERSION, "settings": resolved,
        "seed": seed, "num_classes": num_classes, "input_dim": extractor.input_dim,
        "groups": [{"name": g.name, "width": g.width, "first_column": int(g.columns[0]),
                    "reduced_to": None if g.pca is None else int(g.pca.n_components_),
                    "explained_variance": None if g.pca is None
                    else float(g.pca.explained_variance_ratio_.sum())} for g in extractor.groups],
        "window_frames": 2 * extractor.half_width + 1, "n_features": int(x.shape[1]),
        "n_train_frames": int(x.shape[0]), "n_sessions": len(train_set),
        "class_counts": counts.tolist(), "classes_present": present.tolist(),
        "n_iter": n_iter, "early_stopping_iterations": early,
        "train_accuracy": train_accuracy, "timings": timings,
        "sklearn_version": model.sklearn_version,
    }
    info_path.write_text(json.dumps(info, indent=1) + "\n")
    logger.info("tabular: %d iterations, training accuracy %.4f, %.1f s; wrote %s", n_iter,
                train_accuracy, timings["total_s"], model_path)
    return TabularTrainResult(model=model, model_path=model_path, info_path=info_path,
                              settings=resolved, n_features=int(x.shape[1]),
                              n_train_frames=int(x.shape[0]), class_counts=counts.tolist(),
                              train_accuracy=train_accuracy, n_iter=n_iter,
                              seconds=timings["total_s"])


def load_tabular(path: str | Path) -> TabularModel:
    """Read a ``model.joblib`` written by :func:`train_tabular`.

    Unpickling runs code from the file: load only models this workflow wrote. A model written
    with another scikit-learn version is refused (its trees may not unpickle correctly).
    """
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"tabular model {source} does not exist")
    model = joblib.load(source)
    if not isinstance(model, TabularModel) or model.format != TABULAR_FORMAT:
        raise ValueError(f"{source} is not an egoinstruct tabular model")
    if model.format_version != TABULAR_VERSION:
        raise ValueError(f"{source}: tabular model format version {model.format_version} (this "
                         f"code reads version {TABULAR_VERSION})")
    if model.sklearn_version != str(sklearn.__version__):
        raise ValueError(f"{source} was written with scikit-learn {model.sklearn_version}, this is "
                         f"{sklearn.__version__}; retrain the fold")
    return model


def predict_tabular(
    model: str | Path | TabularModel,
    sequences: list[Sequence],
    threads: int | None = None,
    progress: bool = False,
) -> list[np.ndarray]:
    """Class probabilities ``[C, T]`` (float32) for each sequence, in order; labels are ignored.

    Classes absent from the training fold get a zero row, so every result has ``num_classes``
    rows.
    """
    loaded = model if isinstance(model, TabularModel) else load_tabular(model)
    with _threads(threads):
        return [loaded.predict_proba(s)
                for s in tqdm(sequences, desc="tabular predict", unit="session",
                              disable=not progress, mininterval=1.0)]

"""Procedural step segmentation: one interface to train and apply the temporal models.

Job: given frame features of whole sessions (:class:`Sequence`: ``features [D, T]`` float32,
``labels [T]`` int64), train a registered model (``"asformer"``, ``"mstcn++"``) with its training
recipe, keep checkpoints and the per-epoch training curve, and predict class probabilities
``[C, T]`` for held-out sessions. The workflow's rule scripts call :func:`train` once per fold and
:func:`predict` on the fold's held-out sessions; nothing here reads tables or configuration files.

Contract.

* Settings are a flat dict: ``"preset"`` (``"paper"`` or ``"demo"``, default ``"paper"``) plus any
  overrides of that preset's keys (model hyper-parameters and training recipe alike);
  :func:`resolve_settings` validates them and returns the complete dict, which is stored in every
  checkpoint. Unknown keys are an error.
* Sequences of different lengths are batched by zero-padding with a mask; padding never changes
  the outputs at real frames, and the loss ignores it. Labels may hold
  :data:`~egoinstruct.models.losses.IGNORE_INDEX` (-100) for unannotated frames.
* Runs are reproducible: :func:`train` seeds Python, NumPy and torch, shuffles with its own
  seeded generator and turns on torch's deterministic algorithms (warn-only where an operation
  has none) for the duration of the call. Same seed, data, settings, device and thread count ->
  same weights.
* ``device="auto"`` trains on CUDA when available and on the CPU otherwise.
* Checkpoints (``torch.save`` of plain types, loadable with ``weights_only=True``) hold the model
  name, hyper-parameters, the full settings, ``num_classes``, ``input_dim``, the epoch, its metrics
  and the state dict; :func:`predict` needs nothing else.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from tqdm import tqdm

from egoinstruct.config import validate_definition
from egoinstruct.curves import plot_training_curves
from egoinstruct.models.asformer import ASFormer
from egoinstruct.models.losses import IGNORE_INDEX, segmentation_loss
from egoinstruct.models.mstcn import MSTCNPlusPlus

CHECKPOINT_FORMAT = "egoinstruct.segmentation-checkpoint"
CHECKPOINT_VERSION = 1

_LOG = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class Sequence:
    """One session's frame features and (for training) frame labels.

    Attributes:
        name: session id, used in error messages.
        features: ``[D, T]`` float32 (converted on construction).
        labels: ``[T]`` int64 class indices, -100 for unannotated frames; ``None`` for prediction.
    """

    name: str
    features: np.ndarray
    labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        features = np.asarray(self.features, dtype=np.float32)
        if features.ndim != 2 or features.shape[1] < 1:
            raise ValueError(f"sequence {self.name!r}: features must be [D, T] with T >= 1, "
                             f"got shape {features.shape}")
        if not np.isfinite(features).all():
            raise ValueError(f"sequence {self.name!r}: features contain NaN or infinity")
        object.__setattr__(self, "features", features)
        if self.labels is not None:
            labels = np.asarray(self.labels)
            if labels.ndim != 1 or labels.shape[0] != features.shape[1]:
                raise ValueError(f"sequence {self.name!r}: labels must be [T] with T = "
                                 f"{features.shape[1]} (the features' length), got {labels.shape}")
            if not np.issubdtype(labels.dtype, np.integer):
                raise ValueError(f"sequence {self.name!r}: labels must be integers, got {labels.dtype}")
            object.__setattr__(self, "labels", labels.astype(np.int64))

    @property
    def num_frames(self) -> int:
        return int(self.features.shape[1])

    @property
    def input_dim(self) -> int:
        return int(self.features.shape[0])


def collate(sequences: list[Sequence], device: torch.device | str = "cpu") -> tuple[Tensor, Tensor, Tensor]:
    """Pad sequences to the longest and stack them.

    Returns:
        ``features [B, D, T_max]`` (zero at padding), ``labels [B, T_max]`` int64 (-100 at padding
        and for sequences without labels), ``mask [B, 1, T_max]`` (1.0 at real frames).
    """
    if not sequences:
        raise ValueError("collate: no sequences")
    dims = {s.input_dim for s in sequences}
    if len(dims) != 1:
        raise ValueError(f"collate: sequences have different feature dimensions {sorted(dims)}")
    length = max(s.num_frames for s in sequences)
    batch = len(sequences)
    features = np.zeros((batch, dims.pop(), length), dtype=np.float32)
    labels = np.full((batch, length), IGNORE_INDEX, dtype=np.int64)
    mask = np.zeros((batch, 1, length), dtype=np.float32)
    for i, s in enumerate(sequences):
        features[i, :, : s.num_frames] = s.features
        mask[i, 0, : s.num_frames] = 1.0
        if s.labels is not None:
            labels[i, : s.num_frames] = s.labels
    return (torch.from_numpy(features).to(device), torch.from_numpy(labels).to(device),
            torch.from_numpy(mask).to(device))


# --------------------------------------------------------------------------------------------
# Registry and presets

#: Training-recipe keys shared by every model (the model's own keys come from its spec).
_TRAINING_KEYS = (
    "epochs", "batch_size", "learning_rate", "weight_decay", "smoothing_weight",
    "smoothing_clamp", "lr_plateau_factor", "lr_plateau_patience", "checkpoint_every",
)


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: how to build it and its presets.

    ``factory(input_dim, num_classes, **hyperparameters)`` must return an ``nn.Module`` whose
    ``forward(features [B, D, T], mask [B, 1, T])`` returns logits ``[stages, B, C, T]``.
    Every preset maps every key of ``model_keys`` and of the training recipe to a value.
    ``prepare(model, train_set)``, when given, is called by :func:`train` on the fresh model
    before the first step, with the training sequences only (never the val set): the place to
    fit data-dependent parts such as input standardisation. What it sets must live in the state
    dict (buffers), so the checkpoints carry it.
    """

    name: str
    factory: Callable[..., nn.Module]
    model_keys: tuple[str, ...]
    presets: Mapping[str, Mapping[str, Any]]
    description: str = ""
    # Name of the config schema's definition of this model's settings (types and ranges of the
    # overrides): "<name>_settings" in workflow/schemas/config.schema.yaml.
    settings_schema: str = ""
    prepare: Callable[[nn.Module, list[Sequence]], None] | None = None

    def __post_init__(self) -> None:
        expected = set(self.model_keys) | set(_TRAINING_KEYS)
        for preset, values in self.presets.items():
            if set(values) != expected:
                raise ValueError(f"model {self.name!r}, preset {preset!r}: keys differ from the "
                                 f"expected ones by {sorted(set(values) ^ expected)}")


MODELS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> None:
    """Add (or replace) a model in the registry under ``spec.name``."""
    MODELS[spec.name] = spec


def available_models() -> list[str]:
    return sorted(MODELS)


def _spec(model_name: str) -> ModelSpec:
    try:
        return MODELS[model_name]
    except KeyError:
        raise ValueError(f"unknown segmentation model {model_name!r}; "
                         f"available: {', '.join(available_models())}") from None


_ASFORMER_PAPER: dict[str, Any] = {
    # Model (Yi et al. 2021 and the public code's defaults).
    "num_layers": 10, "num_f_maps": 64, "num_decoders": 3, "channel_masking_rate": 0.3,
    "qk_reduction": 2, "v_reduction": 2, "dropout": 0.5, "alpha_decay": 3.0,
    # Recipe: Adam, lr 5e-4, weight decay 1e-5, 120 epochs, batch 1, lr halved after 3 epochs
    # without a lower training loss (as the public training loop does).
    "epochs": 120, "batch_size": 1, "learning_rate": 5e-4, "weight_decay": 1e-5,
    "smoothing_weight": 0.15, "smoothing_clamp": 16.0,
    "lr_plateau_factor": 0.5, "lr_plateau_patience": 3, "checkpoint_every": 0,
}
_ASFORMER_DEMO: dict[str, Any] = {
    **_ASFORMER_PAPER,
    # Windows 1..16 frames, two decoders, ~0.1 M parameters: seconds per epoch on a CPU for
    # the demo sessions (a minute each).
    "num_layers": 5, "num_f_maps": 32, "num_decoders": 2,
    "epochs": 30, "batch_size": 2, "learning_rate": 2e-3,
}
_MSTCN_PAPER: dict[str, Any] = {
    # Model (Li et al. 2020; the authors' train.sh: 11 PG layers, 10 R layers, 3 R stages).
    "num_layers_pg": 11, "num_layers_r": 10, "num_refinements": 3, "num_f_maps": 64,
    "dropout": 0.5,
    # Recipe: Adam, lr 5e-4, no weight decay, 100 epochs, batch 1, constant lr.
    "epochs": 100, "batch_size": 1, "learning_rate": 5e-4, "weight_decay": 0.0,
    "smoothing_weight": 0.15, "smoothing_clamp": 16.0,
    "lr_plateau_factor": None, "lr_plateau_patience": 3, "checkpoint_every": 0,
}
_MSTCN_DEMO: dict[str, Any] = {
    **_MSTCN_PAPER,
    "num_layers_pg": 6, "num_layers_r": 5, "num_refinements": 2, "num_f_maps": 32,
    "epochs": 30, "batch_size": 2, "learning_rate": 2e-3,
}

register_model(ModelSpec(
    name="asformer",
    factory=ASFormer,
    model_keys=("num_layers", "num_f_maps", "num_decoders", "channel_masking_rate",
                "qk_reduction", "v_reduction", "dropout", "alpha_decay"),
    presets={"paper": _ASFORMER_PAPER, "demo": _ASFORMER_DEMO},
    description="ASFormer (Yi et al., BMVC 2021), local-window mask as in the paper",
    settings_schema="asformer_settings",
))
register_model(ModelSpec(
    name="mstcn++",
    factory=MSTCNPlusPlus,
    model_keys=("num_layers_pg", "num_layers_r", "num_refinements", "num_f_maps", "dropout"),
    presets={"paper": _MSTCN_PAPER, "demo": _MSTCN_DEMO},
    description="MS-TCN++ (Li et al., TPAMI 2020)",
    settings_schema="mstcn_settings",
))


def resolve_settings(model_name: str, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The complete settings for ``model_name``: a preset with overrides applied.

    Args:
        model_name: a registered model (``"asformer"``, ``"mstcn++"``).
        settings: ``{"preset": "paper" | "demo", <key>: <override>, ...}``; ``None`` or ``{}``
            gives the paper preset. A resolved dict passes through unchanged.

    Raises:
        ValueError: unknown model or preset.
        InputError: an unknown key, or a value of the wrong type or range — checked against the
            model's settings in the config schema (``$defs/<model>_settings``), the one place
            these rules are written down.
    """
    spec = _spec(model_name)
    given = dict(settings or {})
    if spec.settings_schema:
        validate_definition(spec.settings_schema, given, f"baseline settings of {model_name!r}")
    preset = str(given.pop("preset", "paper"))
    if preset not in spec.presets:
        raise ValueError(f"unknown preset {preset!r} for {model_name!r}; "
                         f"available: {', '.join(sorted(spec.presets))}")
    resolved: dict[str, Any] = {"preset": preset, **spec.presets[preset]}
    unknown = sorted(set(given) - set(resolved))
    if unknown:
        raise ValueError(f"unknown segmentation setting(s) {unknown} for {model_name!r}; "
                         f"known: {sorted(resolved)}")
    resolved.update({key: integral(value, resolved[key]) for key, value in given.items()})
    return resolved


def integral(value: Any, preset_value: Any) -> Any:
    """An override of an integer setting as an int: the schema's ``integer`` accepts ``3.0``,
    which layer counts and sizes (``range``, tensor shapes) do not."""
    if (isinstance(value, float) and value.is_integer() and isinstance(preset_value, int)
            and not isinstance(preset_value, bool)):
        return int(value)
    return value


def model_hyperparameters(model_name: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The constructor keyword arguments of the model, taken from resolved settings."""
    spec = _spec(model_name)
    return {key: settings[key] for key in spec.model_keys}


def build_model(model_name: str, input_dim: int, num_classes: int,
                settings: Mapping[str, Any] | None = None) -> nn.Module:
    """A freshly initialised model (initialisation draws from torch's global RNG)."""
    resolved = resolve_settings(model_name, settings)
    return _spec(model_name).factory(input_dim, num_classes,
                                     **model_hyperparameters(model_name, resolved))


# --------------------------------------------------------------------------------------------
# Devices and reproducibility


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else as torch understands it."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} requested but CUDA is not available; "
                         "use device: auto or cpu")
    return resolved


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU and every CUDA device) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextmanager
def deterministic_algorithms() -> Iterator[None]:
    """Torch's deterministic algorithms on (warn-only), restored to the previous state after.

    Warn-only because some CUDA kernels have no deterministic variant; they then warn once
    instead of failing. cuBLAS needs its workspace setting before first use to be deterministic.
    Scaled-dot-product attention is limited to its flash (CPU) and math backends: in warn-only
    mode the CUDA memory-efficient backend's backward pass is not deterministic.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    previous = (torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled(),
                torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    try:
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.MATH]):
            yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        torch.backends.cudnn.deterministic = previous[2]
        torch.backends.cudnn.benchmark = previous[3]


# --------------------------------------------------------------------------------------------
# Checkpoints


def _save_atomic(obj: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _checkpoint(model_name: str, model: nn.Module, settings: Mapping[str, Any], input_dim: int,
                num_classes: int, epoch: int, seed: int, metrics: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "model_name": model_name,
        "hyperparameters": model_hyperparameters(model_name, settings),
        "settings": dict(settings),
        "num_classes": num_classes,
        "input_dim": input_dim,
        "epoch": epoch,
        "seed": seed,
        "metrics": dict(metrics),
        "torch_version": str(torch.__version__),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }


@dataclass
class LoadedModel:
    """A model restored from a checkpoint, in eval mode on ``device``, with its metadata."""

    model: nn.Module
    model_name: str
    num_classes: int
    input_dim: int
    settings: dict[str, Any]
    epoch: int
    device: torch.device
    metrics: dict[str, Any] = field(default_factory=dict)


def load_checkpoint(checkpoint: str | Path, device: str | torch.device = "auto") -> LoadedModel:
    """Rebuild the model saved in ``checkpoint`` and load its weights."""
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"segmentation checkpoint {path} does not exist")
    data = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an egoinstruct segmentation checkpoint")
    if data.get("format_version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: checkpoint format version {data.get('format_version')} "
                         f"(this code reads version {CHECKPOINT_VERSION})")
    target = resolve_device(device)
    name = data["model_name"]
    model = _spec(name).factory(int(data["input_dim"]), int(data["num_classes"]),
                                **data["hyperparameters"])
    model.load_state_dict(data["state_dict"])
    model.to(target).eval()
    return LoadedModel(model=model, model_name=name, num_classes=int(data["num_classes"]),
                       input_dim=int(data["input_dim"]), settings=dict(data["settings"]),
                       epoch=int(data["epoch"]), device=target, metrics=dict(data["metrics"]))


# --------------------------------------------------------------------------------------------
# Training


@dataclass(frozen=True)
class EpochRecord:
    """One line of the training curve. Train metrics come from the epoch's own (dropout-on)
    forward passes, as in the published training loops; val metrics from an eval-mode pass."""

    epoch: int
    train_loss: float
    train_cross_entropy: float
    train_smoothing: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    learning_rate: float
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` produced. Paths are inside ``checkpoint_dir``."""

    model_name: str
    settings: dict[str, Any]
    history: list[EpochRecord]
    best_epoch: int
    best_checkpoint: Path
    last_checkpoint: Path
    history_path: Path
    curves_path: Path
    device: str
    seconds: float


def _check_training_set(sequences: list[Sequence], num_classes: int, what: str) -> None:
    if not sequences:
        raise ValueError(f"{what}: no sequences")
    for s in sequences:
        if s.labels is None:
            raise ValueError(f"{what}: sequence {s.name!r} has no labels")
        bad = (s.labels != IGNORE_INDEX) & ((s.labels < 0) | (s.labels >= num_classes))
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{what}: sequence {s.name!r} frame {first} has label "
                             f"{int(s.labels[first])}, outside 0..{num_classes - 1}")
        if not (s.labels != IGNORE_INDEX).any():
            raise ValueError(f"{what}: sequence {s.name!r} has no labelled frame")


def _batches(sequences: list[Sequence], batch_size: int, order: np.ndarray | None = None) -> Iterator[list[Sequence]]:
    indices = np.arange(len(sequences)) if order is None else order
    for start in range(0, len(indices), batch_size):
        yield [sequences[int(i)] for i in indices[start:start + batch_size]]


def _correct_and_total(logits: Tensor, labels: Tensor, mask: Tensor) -> tuple[int, int]:
    """Frame accuracy counts of the last stage over labelled real frames."""
    counted = (labels != IGNORE_INDEX) & (mask[:, 0, :] > 0)
    predicted = logits[-1].argmax(dim=1)
    return int(((predicted == labels) & counted).sum()), int(counted.sum())


@torch.no_grad()
def _evaluate(model: nn.Module, sequences: list[Sequence], settings: Mapping[str, Any],
              device: torch.device) -> tuple[float, float]:
    """Mean loss per batch and frame accuracy of the last stage, in eval mode."""
    was_training = model.training
    model.eval()
    losses: list[float] = []
    correct = total = 0
    for batch in _batches(sequences, int(settings["batch_size"])):
        features, labels, mask = collate(batch, device)
        logits = model(features, mask)
        parts = segmentation_loss(logits, labels, mask, settings["smoothing_weight"],
                                  settings["smoothing_clamp"])
        losses.append(float(parts.total))
        c, t = _correct_and_total(logits, labels, mask)
        correct, total = correct + c, total + t
    model.train(was_training)
    return float(np.mean(losses)), correct / max(total, 1)


def train(
    model_name: str,
    train_set: list[Sequence],
    val_set: list[Sequence] | None,
    num_classes: int,
    settings: Mapping[str, Any] | None,
    checkpoint_dir: str | Path,
    seed: int = 0,
    device: str | torch.device = "auto",
    log: logging.Logger | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train ``model_name`` on ``train_set`` with the recipe in ``settings``.

    Every epoch: shuffle (seeded), one optimizer step per batch on CE + smoothing summed over
    stages, Adam; optionally halve the learning rate on a plateau of the training loss; evaluate
    on ``val_set`` when given. Writes to ``checkpoint_dir``: ``last.pt`` (every epoch),
    ``best.pt`` (best val frame accuracy, or lowest training loss without a val set; earlier
    epoch on ties), ``epoch-NNN.pt`` every ``checkpoint_every`` epochs when that is > 0,
    ``history.json`` (every epoch) and ``training_curves.png`` (at the end).

    Args:
        model_name: ``"asformer"`` or ``"mstcn++"`` (see :func:`available_models`).
        train_set: labelled sequences, all with the same feature dimension.
        val_set: labelled sequences for model selection, or ``None``.
        num_classes: number of classes; labels are ``0..num_classes - 1`` (or -100).
        settings: preset name and overrides, see :func:`resolve_settings`.
        checkpoint_dir: created if missing.
        seed: seeds weights, dropout, channel masking and the shuffling.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        log: where to write one line per epoch (default: this module's logger).
        progress: show a tqdm bar over epochs (on stderr).
    """
    logger = log or _LOG
    resolved = resolve_settings(model_name, settings)
    _check_training_set(train_set, num_classes, "training set")
    if val_set:
        _check_training_set(val_set, num_classes, "validation set")
    dims = {s.input_dim for s in train_set} | {s.input_dim for s in val_set or []}
    if len(dims) != 1:
        raise ValueError(f"sequences have different feature dimensions: {sorted(dims)}")
    input_dim = dims.pop()
    target = resolve_device(device)
    out_dir = Path(checkpoint_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    best_path, last_path = out_dir / "best.pt", out_dir / "last.pt"
    history_path, curves_path = out_dir / "history.json", out_dir / "training_curves.png"

    started = time.perf_counter()
    history: list[EpochRecord] = []
    with deterministic_algorithms():
        seed_everything(seed)
        shuffler = np.random.default_rng(seed)
        model = build_model(model_name, input_dim, num_classes, resolved)
        prepare = _spec(model_name).prepare
        if prepare is not None:
            prepare(model, train_set)
        model = model.to(target)
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=resolved["learning_rate"],
                                     weight_decay=resolved["weight_decay"])
        scheduler = None
        if resolved["lr_plateau_factor"] is not None:
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="min", factor=resolved["lr_plateau_factor"],
                patience=int(resolved["lr_plateau_patience"]))
        n_params = sum(p.numel() for p in model.parameters())
        logger.info("training %s (%s preset, %d parameters) on %s: %d train / %d val sequences, "
                    "%d classes, input dim %d, seed %d", model_name, resolved["preset"], n_params,
                    target, len(train_set), len(val_set or []), num_classes, input_dim, seed)

        best_score: float | None = None
        best_epoch = 0
        epochs = int(resolved["epochs"])
        bar = tqdm(range(1, epochs + 1), desc=f"{model_name} epochs", unit="epoch",
                   disable=not progress, mininterval=1.0)
        for epoch in bar:
            epoch_start = time.perf_counter()
            totals = np.zeros(3)
            n_batches = correct = counted = 0
            order = shuffler.permutation(len(train_set))
            for batch in _batches(train_set, int(resolved["batch_size"]), order):
                features, labels, mask = collate(batch, target)
                optimizer.zero_grad(set_to_none=True)
                logits = model(features, mask)
                parts = segmentation_loss(logits, labels, mask, resolved["smoothing_weight"],
                                          resolved["smoothing_clamp"])
                parts.total.backward()
                optimizer.step()
                totals += [parts.total.item(), parts.cross_entropy.item(), parts.smoothing.item()]
                n_batches += 1
                c, t = _correct_and_total(logits.detach(), labels, mask)
                correct, counted = correct + c, counted + t
            train_loss, train_ce, train_smooth = (totals / max(n_batches, 1)).tolist()
            # The plateau schedule watches the training loss, as the public ASFormer loop does.
            learning_rate = float(optimizer.param_groups[0]["lr"])
            if scheduler is not None:
                scheduler.step(train_loss)
            val_loss = val_accuracy = None
            if val_set:
                val_loss, val_accuracy = _evaluate(model, val_set, resolved, target)
            record = EpochRecord(
                epoch=epoch, train_loss=train_loss, train_cross_entropy=train_ce,
                train_smoothing=train_smooth, train_accuracy=correct / max(counted, 1),
                val_loss=val_loss, val_accuracy=val_accuracy, learning_rate=learning_rate,
                seconds=time.perf_counter() - epoch_start,
            )
            history.append(record)
            metrics = asdict(record)
            checkpoint = _checkpoint(model_name, model, resolved, input_dim, num_classes, epoch,
                                     seed, metrics)
            _save_atomic(checkpoint, last_path)
            score = val_accuracy if val_accuracy is not None else -train_loss
            if best_score is None or score > best_score:
                best_score, best_epoch = score, epoch
                _save_atomic(checkpoint, best_path)
            every = int(resolved["checkpoint_every"])
            if every > 0 and epoch % every == 0:
                _save_atomic(checkpoint, out_dir / f"epoch-{epoch:03d}.pt")
            history_path.write_text(json.dumps([asdict(r) for r in history], indent=1) + "\n")
            val_text = "" if val_accuracy is None else f", val loss {val_loss:.4f} acc {val_accuracy:.4f}"
            logger.info("epoch %d/%d: train loss %.4f (CE %.4f, smoothing %.4f) acc %.4f%s, "
                        "lr %.2e, %.1f s", epoch, epochs, train_loss, train_ce, train_smooth,
                        record.train_accuracy, val_text, learning_rate, record.seconds)
            bar.set_postfix(loss=f"{train_loss:.3f}", acc=f"{record.train_accuracy:.3f}")
        bar.close()

    plot_training_curves(history, curves_path, title=f"{model_name} ({resolved['preset']} preset)")
    seconds = time.perf_counter() - started
    logger.info("best epoch %d; checkpoints %s, %s; %.1f s", best_epoch, best_path, last_path, seconds)
    return TrainResult(model_name=model_name, settings=resolved, history=history,
                       best_epoch=best_epoch, best_checkpoint=best_path, last_checkpoint=last_path,
                       history_path=history_path, curves_path=curves_path, device=str(target),
                       seconds=seconds)


# --------------------------------------------------------------------------------------------
# Prediction


@torch.no_grad()
def predict(
    checkpoint: str | Path | LoadedModel,
    sequences: list[Sequence],
    device: str | torch.device = "auto",
    batch_size: int = 1,
) -> list[np.ndarray]:
    """Class probabilities of the last stage for each sequence: ``[C, T]`` float32, in order.

    Labels, if present, are ignored. Batching is only a speed/memory trade-off: padding does not
    change the result. ``device`` applies when ``checkpoint`` is a path; a :class:`LoadedModel`
    runs where it was loaded.
    """
    loaded = checkpoint if isinstance(checkpoint, LoadedModel) else load_checkpoint(checkpoint, device)
    model = loaded.model.eval()
    for s in sequences:
        if s.input_dim != loaded.input_dim:
            raise ValueError(f"sequence {s.name!r} has {s.input_dim}-d features; the checkpoint's "
                             f"model takes {loaded.input_dim}")
    results: list[np.ndarray] = []
    for batch in _batches(sequences, max(1, batch_size)):
        features, _, mask = collate(batch, loaded.device)
        probabilities = F.softmax(model(features, mask)[-1].float(), dim=1).cpu().numpy()
        results.extend(probabilities[i, :, : s.num_frames].copy() for i, s in enumerate(batch))
    return results

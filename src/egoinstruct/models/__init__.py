"""Temporal segmentation models for procedural step segmentation (GitHub issue 6).

ASFormer (:mod:`.asformer`) and the faster MS-TCN++ reference (:mod:`.mstcn`) behind one
interface (:mod:`.segmentation`): a registry by name, ``paper``/``demo`` presets, seeded training
per fold with checkpoints and training curves, and prediction of ``[C, T]`` probabilities. Both
models map features ``[batch, D, T]`` and a mask ``[batch, 1, T]`` to logits
``[stages, batch, C, T]``; the loss lives in :mod:`.losses`. See ``docs/models.md``.
"""

from egoinstruct.models.asformer import ASFormer
from egoinstruct.models.losses import IGNORE_INDEX, LossParts, segmentation_loss, truncated_mse
from egoinstruct.models.mstcn import MSTCNPlusPlus
from egoinstruct.models.segmentation import (
    MODELS,
    EpochRecord,
    LoadedModel,
    ModelSpec,
    Sequence,
    TrainResult,
    available_models,
    build_model,
    collate,
    load_checkpoint,
    plot_training_curves,
    predict,
    register_model,
    resolve_device,
    resolve_settings,
    train,
)

__all__ = [
    "ASFormer", "MSTCNPlusPlus", "IGNORE_INDEX", "LossParts", "segmentation_loss", "truncated_mse",
    "MODELS", "EpochRecord", "LoadedModel", "ModelSpec", "Sequence", "TrainResult",
    "available_models", "build_model", "collate", "load_checkpoint", "plot_training_curves",
    "predict", "register_model", "resolve_device", "resolve_settings", "train",
]

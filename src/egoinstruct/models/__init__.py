"""Temporal models for procedural step segmentation and conversation states.

ASFormer (:mod:`.asformer`) and the faster MS-TCN++ reference (:mod:`.mstcn`) for steps, and a
bidirectional GRU (:mod:`.recurrent`) for conversation states, behind one interface
(:mod:`.segmentation`): a registry by name, ``paper``/``demo`` presets, seeded training per fold
with checkpoints and training curves, and prediction of ``[C, T]`` probabilities. All models map
features ``[batch, D, T]`` and a mask ``[batch, 1, T]`` to logits ``[stages, batch, C, T]``; the
loss lives in :mod:`.losses`. Importing this package registers every model, whichever submodule
a caller imports first (a submodule import runs this file first).

The gradient-boosting baseline over window aggregates lives in :mod:`.tabular` and is not
imported here, so that torch-only users do not pay for importing scikit-learn; the
majority-class reference is :mod:`.majority`. See ``docs/models.md``.
"""

from egoinstruct.models.asformer import ASFormer
from egoinstruct.models.losses import IGNORE_INDEX, LossParts, segmentation_loss, truncated_mse
from egoinstruct.models.majority import fit_majority, predict_majority
from egoinstruct.models.mstcn import MSTCNPlusPlus
from egoinstruct.models.recurrent import BiGRUClassifier  # registers "bigru"
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
    "ASFormer", "MSTCNPlusPlus", "BiGRUClassifier", "IGNORE_INDEX", "LossParts",
    "segmentation_loss", "truncated_mse", "fit_majority", "predict_majority",
    "MODELS", "EpochRecord", "LoadedModel", "ModelSpec", "Sequence", "TrainResult",
    "available_models", "build_model", "collate", "load_checkpoint", "plot_training_curves",
    "predict", "register_model", "resolve_device", "resolve_settings", "train",
]

"""Training loss of the temporal segmentation models: frame-wise cross-entropy plus the
truncated-MSE smoothing term of MS-TCN (Farha & Gall, CVPR 2019), summed over stages.

Contract. Logits are ``[stages, batch, classes, time]`` (or one stage ``[batch, classes, time]``),
labels ``[batch, time]`` int64 with :data:`IGNORE_INDEX` for frames without a label, the mask
``[batch, 1, time]`` (or ``[batch, time]``) 1.0 at real frames and 0.0 at padding. Padding never
counts: a padded frame adds nothing to the cross-entropy, and a pair of consecutive frames enters
the smoothing term only when both frames are real. For one unpadded sequence (batch size 1, the
published recipe) both terms equal the published code's exactly.

Per stage s, with log-probabilities ``y = log_softmax(logits_s)`` over classes::

    L_s = CE(logits_s, labels)
          + smoothing_weight * mean_{t, c} min((y[c, t] - stopgrad(y[c, t - 1]))**2, clamp)

where the mean runs over classes and valid frame pairs; ``clamp = 16`` is tau**2 with tau = 4 in
the MS-TCN paper, ``smoothing_weight = 0.15``. The total is ``sum_s stage_weight_s * L_s``
(all weights 1.0 in the published recipes of both MS-TCN++ and ASFormer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

IGNORE_INDEX = -100
"""Label value for frames that carry no label (padding, unannotated gaps)."""


@dataclass(frozen=True)
class LossParts:
    """The total loss (what is back-propagated) and its two parts summed over stages."""

    total: Tensor
    cross_entropy: Tensor
    smoothing: Tensor


def _frame_mask(mask: Tensor) -> Tensor:
    """``[batch, 1, time]`` or ``[batch, time]`` -> ``[batch, time]`` float."""
    if mask.dim() == 3:
        if mask.shape[1] != 1:
            raise ValueError(f"mask must be [batch, 1, time], got {tuple(mask.shape)}")
        mask = mask[:, 0, :]
    if mask.dim() != 2:
        raise ValueError(f"mask must be [batch, 1, time] or [batch, time], got {tuple(mask.shape)}")
    return mask.to(torch.float32)


def masked_cross_entropy(logits: Tensor, labels: Tensor, mask: Tensor) -> Tensor:
    """Mean cross-entropy over labelled, unpadded frames.

    Args:
        logits: ``[batch, classes, time]``.
        labels: ``[batch, time]`` int64, :data:`IGNORE_INDEX` where unlabelled.
        mask: ``[batch, 1, time]`` or ``[batch, time]``, 1.0 at real frames.

    Returns:
        A scalar; 0.0 (with a gradient path) when no frame is labelled.
    """
    frame_mask = _frame_mask(mask)
    # Padding is excluded even if the caller left a real class index there.
    target = labels.masked_fill(frame_mask <= 0, IGNORE_INDEX)
    losses = F.cross_entropy(logits.float(), target, ignore_index=IGNORE_INDEX, reduction="none")
    counted = (target != IGNORE_INDEX).float()
    return (losses * counted).sum() / counted.sum().clamp_min(1.0)


def truncated_mse(logits: Tensor, mask: Tensor, clamp: float = 16.0) -> Tensor:
    """MS-TCN's smoothing loss: clamped squared change of log-probabilities between frames.

    The earlier frame of each pair is detached (as in the published code), so the term pulls
    each frame towards its predecessor, not the other way round.

    Args:
        logits: ``[batch, classes, time]``.
        mask: ``[batch, 1, time]`` or ``[batch, time]``, 1.0 at real frames.
        clamp: upper bound of each squared difference (tau**2; 16 in the papers).

    Returns:
        A scalar: the mean over classes and over frame pairs whose two frames are both real.
    """
    frame_mask = _frame_mask(mask)
    if logits.shape[-1] < 2:
        return logits.sum() * 0.0
    log_probs = F.log_softmax(logits.float(), dim=1)
    squared = (log_probs[:, :, 1:] - log_probs[:, :, :-1].detach()) ** 2
    squared = squared.clamp(min=0.0, max=clamp)
    pair_mask = (frame_mask[:, 1:] * frame_mask[:, :-1]).unsqueeze(1)  # [batch, 1, time - 1]
    denominator = (pair_mask.sum() * logits.shape[1]).clamp_min(1.0)
    return (squared * pair_mask).sum() / denominator


def segmentation_loss(
    logits: Tensor,
    labels: Tensor,
    mask: Tensor,
    smoothing_weight: float = 0.15,
    smoothing_clamp: float = 16.0,
    stage_weights: Sequence[float] | None = None,
) -> LossParts:
    """Cross-entropy + ``smoothing_weight`` x truncated MSE, summed over stages.

    Args:
        logits: ``[stages, batch, classes, time]`` (or ``[batch, classes, time]`` for one stage).
        labels: ``[batch, time]`` int64, :data:`IGNORE_INDEX` where unlabelled.
        mask: ``[batch, 1, time]`` or ``[batch, time]``, 1.0 at real frames.
        smoothing_weight: lambda of the smoothing term (0.15 in the papers).
        smoothing_clamp: tau**2 (16 in the papers).
        stage_weights: one weight per stage; ``None`` weighs every stage 1.0.
    """
    if logits.dim() == 3:
        logits = logits.unsqueeze(0)
    if logits.dim() != 4:
        raise ValueError(f"logits must be [stages, batch, classes, time], got {tuple(logits.shape)}")
    n_stages = logits.shape[0]
    weights = [1.0] * n_stages if stage_weights is None else [float(w) for w in stage_weights]
    if len(weights) != n_stages:
        raise ValueError(f"{len(weights)} stage weights for {n_stages} stages")
    ce_total = logits.new_zeros((), dtype=torch.float32)
    smooth_total = logits.new_zeros((), dtype=torch.float32)
    total = logits.new_zeros((), dtype=torch.float32)
    for weight, stage in zip(weights, logits, strict=True):
        ce = masked_cross_entropy(stage, labels, mask)
        smooth = truncated_mse(stage, mask, smoothing_clamp)
        ce_total = ce_total + ce.detach()
        smooth_total = smooth_total + smooth.detach()
        total = total + weight * (ce + smoothing_weight * smooth)
    return LossParts(total=total, cross_entropy=ce_total, smoothing=smooth_total)

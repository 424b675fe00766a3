"""Conversation-state classification: a bidirectional GRU over per-frame multimodal features.

Job: label every frame of a session with a conversation state (who is talking, demonstrating,
listening, ...). A state at one instant depends on what happens around it on both sides (an
answer follows a question; an explanation ends when the hands start working), so a recurrent
model that reads the whole session forwards and backwards is the natural temporal baseline.

Contract: the same as the segmentation models, so :func:`~egoinstruct.models.segmentation.train`,
:func:`~egoinstruct.models.segmentation.predict`, the checkpoints and the loss serve it unchanged.
``forward(features [B, D, T], mask [B, 1, T])`` returns logits ``[1, B, C, T]`` (one "stage"),
zero at padded frames. Registered as ``"bigru"`` with ``paper`` and ``demo`` presets.

Why each part:

* **Per-feature standardisation** with statistics of the training sessions only. The feature
  groups differ in scale by orders of magnitude (CNN embeddings around 0-1, prosody in Hz and dB,
  gaze in degrees); without it the projection's initial output is dominated by a few columns.
  The mean and scale are registered buffers, filled by :func:`fit_normalizer` (which ``train``
  calls through the spec's ``prepare`` hook before the first step), so every checkpoint carries
  them and prediction on held-out sessions uses the training fold's statistics.
* **Channel dropout on the input** (``input_dropout``, whole feature columns of a session): with
  thousands of embedding columns and a few dozen sessions, it keeps the model from relying on a
  handful of columns.
* **Linear -> LayerNorm -> GELU projection** per frame to ``hidden``: a learned mix of the groups
  at a size the GRU can afford; LayerNorm keeps the GRU's input well scaled even when a held-out
  session's features drift from the training statistics.
* **Padding-free bidirectional GRU**: the real lengths come from the mask, and a padded batch
  is packed (``pack_padded_sequence``, on a GPU) or run sequence by sequence (on a CPU, where
  packing makes the backward pass several times slower), so the backward direction starts at
  each sequence's own last frame and padding never reaches a real frame in either direction.
* **Per-frame linear head** on both directions' states.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from egoinstruct.models.segmentation import ModelSpec, Sequence, register_model

#: Columns whose training standard deviation is below this are only centred, not scaled: a
#: column constant in the training fold would otherwise blow up on held-out sessions.
MIN_SCALE = 1e-6


def lengths_from_mask(mask: Tensor) -> Tensor:
    """Real lengths ``[B]`` (int64, on the CPU) of a prefix mask ``[B, 1, T]``.

    Raises:
        ValueError: the mask is not 1.0 on a prefix and 0.0 after it, or a sequence is empty
            (packing needs at least one real frame per sequence).
    """
    if mask.dim() != 3 or mask.shape[1] != 1:
        raise ValueError(f"mask must be [batch, 1, time], got {tuple(mask.shape)}")
    real = mask[:, 0, :] > 0
    lengths = real.sum(dim=1)
    prefix = torch.arange(mask.shape[-1], device=mask.device)[None, :] < lengths[:, None]
    if not torch.equal(real, prefix):
        raise ValueError("mask must mark a prefix of each sequence (real frames first, then padding)")
    if bool((lengths == 0).any()):
        raise ValueError("every sequence in the batch needs at least one real frame")
    return lengths.to("cpu", torch.int64)


def run_bidirectional(gru: nn.GRU, h: Tensor, lengths: Tensor, packed: bool) -> Tensor:
    """Run ``gru`` (batch first) over ``h [B, T, F]`` so that each sequence sees only its own
    ``lengths[i]`` frames; outputs ``[B, T, directions * hidden]``, zero past each length.

    A batch without padding runs as it is. Otherwise either the batch is packed
    (``packed=True``: one cuDNN call on a GPU) or each sequence runs alone at its own length
    (``packed=False``: on a CPU, torch's packed GRU backward pass is about five times slower
    than the unpacked one at session length, which outweighs the lost batching). Both give
    the same outputs to float tolerance.
    """
    batch, length, _ = h.shape
    if bool((lengths == length).all()):
        return gru(h)[0]
    if packed:
        sequence = pack_padded_sequence(h, lengths, batch_first=True, enforce_sorted=False)
        return pad_packed_sequence(gru(sequence)[0], batch_first=True, total_length=length)[0]
    out = h.new_zeros(batch, length, gru.hidden_size * (2 if gru.bidirectional else 1))
    for i, n in enumerate(lengths.tolist()):
        out[i, :n] = gru(h[i:i + 1, :n])[0][0]
    return out


class BiGRUClassifier(nn.Module):
    """Per-frame conversation-state logits from a bidirectional GRU (see the module docstring).

    Args:
        input_dim: ``D``, the number of feature columns.
        num_classes: ``C``.
        hidden: size of the projection and of each GRU direction's state.
        num_layers: stacked GRU layers.
        dropout: after the projection, between GRU layers and before the head.
        input_dropout: probability of dropping a whole (standardised) feature column of a
            sequence during training; a dropped column reads as the training mean.
    """

    #: One output "stage" (the segmentation models stack several refinements).
    num_stages = 1

    def __init__(self, input_dim: int, num_classes: int, hidden: int = 128, num_layers: int = 2,
                 dropout: float = 0.3, input_dropout: float = 0.2) -> None:
        super().__init__()
        if input_dim < 1 or num_classes < 1 or hidden < 1 or num_layers < 1:
            raise ValueError(f"BiGRUClassifier: input_dim, num_classes, hidden and num_layers must "
                             f"be >= 1, got {input_dim}, {num_classes}, {hidden}, {num_layers}")
        for name, p in (("dropout", dropout), ("input_dropout", input_dropout)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"BiGRUClassifier: {name} must be in [0, 1), got {p}")
        self.input_dim, self.num_classes = input_dim, num_classes
        self.register_buffer("feature_mean", torch.zeros(input_dim))
        self.register_buffer("feature_scale", torch.ones(input_dim))
        self.input_dropout = nn.Dropout1d(input_dropout)
        self.projection = nn.Sequential(
            nn.Linear(input_dim, hidden), nn.LayerNorm(hidden), nn.GELU(), nn.Dropout(dropout))
        self.gru = nn.GRU(hidden, hidden, num_layers=num_layers, batch_first=True,
                          bidirectional=True, dropout=dropout if num_layers > 1 else 0.0)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, num_classes))

    @torch.no_grad()
    def fit_normalizer(self, sequences: Iterable[Sequence]) -> None:
        """Set the per-column mean and scale from all frames of ``sequences`` (the training set).

        Two passes in float64 (mean, then squared deviations), so large offsets such as pitch
        in Hz do not lose precision. Columns with a standard deviation below
        :data:`MIN_SCALE` keep a scale of 1.
        """
        items = list(sequences)
        if not items:
            raise ValueError("fit_normalizer: no sequences")
        for s in items:
            if s.input_dim != self.input_dim:
                raise ValueError(f"fit_normalizer: sequence {s.name!r} has {s.input_dim}-d "
                                 f"features, the model takes {self.input_dim}")
        count = sum(s.num_frames for s in items)
        mean = sum(s.features.sum(axis=1, dtype=np.float64) for s in items) / count
        variance = sum(((s.features - mean[:, None]) ** 2).sum(axis=1) for s in items) / count
        std = np.sqrt(variance)
        scale = np.where(std >= MIN_SCALE, std, 1.0)
        self.feature_mean.copy_(torch.from_numpy(mean))
        self.feature_scale.copy_(torch.from_numpy(scale))

    def forward(self, features: Tensor, mask: Tensor) -> Tensor:
        """``features [B, D, T]``, ``mask [B, 1, T]`` -> logits ``[1, B, C, T]``."""
        if features.dim() != 3 or features.shape[1] != self.input_dim:
            raise ValueError(f"features must be [batch, {self.input_dim}, time], "
                             f"got {tuple(features.shape)}")
        lengths = lengths_from_mask(mask)
        x = (features - self.feature_mean[None, :, None]) / self.feature_scale[None, :, None]
        x = self.input_dropout(x)
        h = self.projection(x.transpose(1, 2))  # [B, T, hidden]
        out = run_bidirectional(self.gru, h, lengths, packed=h.is_cuda)  # [B, T, 2 * hidden]
        logits = self.head(out).transpose(1, 2) * mask  # [B, C, T]
        return logits.unsqueeze(0)


def prepare_bigru(model: nn.Module, train_set: list[Sequence]) -> None:
    """The spec's ``prepare`` hook: standardisation statistics from the training set."""
    if not isinstance(model, BiGRUClassifier):
        raise TypeError(f"prepare_bigru expects a BiGRUClassifier, got {type(model).__name__}")
    model.fit_normalizer(train_set)


BIGRU_PAPER: dict[str, Any] = {
    # Model: 1.05 M parameters at D = 4300, C = 10 (half of them in the input projection).
    "hidden": 128, "num_layers": 2, "dropout": 0.3, "input_dropout": 0.2,
    # Recipe: Adam 1e-3 with weight decay 1e-4, 50 epochs over whole sessions in pairs. The
    # smoothing term (as in the segmentation recipes) discourages one-frame flickers without
    # stopping states that last a second. Halve the lr when the training loss stalls.
    "epochs": 50, "batch_size": 2, "learning_rate": 1e-3, "weight_decay": 1e-4,
    "smoothing_weight": 0.15, "smoothing_clamp": 16.0,
    "lr_plateau_factor": 0.5, "lr_plateau_patience": 5, "checkpoint_every": 0,
}
BIGRU_DEMO: dict[str, Any] = {
    **BIGRU_PAPER,
    # One small layer, a few seconds per fold on the demo sessions on a CPU.
    "hidden": 32, "num_layers": 1, "dropout": 0.2, "input_dropout": 0.1,
    "epochs": 25, "batch_size": 2, "learning_rate": 3e-3,
}

register_model(ModelSpec(
    name="bigru",
    factory=BiGRUClassifier,
    model_keys=("hidden", "num_layers", "dropout", "input_dropout"),
    presets={"paper": BIGRU_PAPER, "demo": BIGRU_DEMO},
    description="bidirectional GRU over standardised multimodal frame features (conversation states)",
    settings_schema="bigru_settings",
    prepare=prepare_bigru,
))

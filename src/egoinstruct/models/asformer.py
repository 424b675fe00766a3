"""ASFormer (Yi, Wen & Jiang, "ASFormer: Transformer for Action Segmentation", BMVC 2021).

Job: map frame features ``[batch, input_dim, time]`` and a frame mask ``[batch, 1, time]``
(1.0 at real frames, 0.0 at padding) to frame-wise class logits of every stage,
``[1 + num_decoders, batch, num_classes, time]``: the encoder's prediction first, then each
decoder's refinement. All stages are trained; the last one is the model's answer.

One ``nn.Module`` per block of the paper's Figure 2 (encoder block, decoder block, and the
hierarchical local attention inside both). Shapes in the docstrings are ``[batch, channels, time]``.

Differences from the public code (github.com/ChinaYi/ASFormer), all deliberate:

* The local-window mask is built as the paper describes: each frame attends to the ``w`` frames
  of its own window (``w = 2**i`` in layer ``i``). The public ``construct_window_mask`` writes
  ``window_mask[:, :, i:i + bl] = 1`` for every ``i``, i.e. it fills the key axis for *all*
  queries at once, so every frame of a block attends to the whole ``2 * bl`` key span around the
  block instead of its own window (the intended line indexes the query axis:
  ``window_mask[:, i, i:i + bl] = 1``).
* Padding never leaks into real frames, so batches of different lengths give the same outputs at
  real frames as one sequence alone: padded keys are excluded from attention, every convolution
  reads zeros at padded frames, and instance normalisation takes its statistics over real frames
  only (the public code ran with batch size 1 and normalised over the whole tensor).
* No device is chosen at import time; tensors are created on the input's device.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def decoder_alpha(decoder_index: int, decay: float = 3.0) -> float:
    """Weight of the cross-attention branch in decoder ``decoder_index`` (0-based): exp(-decay * i).

    The first decoder weighs attention fully (1.0); later decoders rely more and more on their
    convolutional path (e**-3, e**-6, ... with the published decay of 3).
    """
    return math.exp(-decay * decoder_index)


def masked_instance_norm(x: Tensor, mask: Tensor, eps: float = 1e-5) -> Tensor:
    """Instance normalisation over real frames only (no affine parameters).

    Args:
        x: ``[batch, channels, time]``.
        mask: ``[batch, 1, time]``, 1.0 at real frames.

    Returns:
        ``[batch, channels, time]``, zero at padded frames. With no padding this equals
        ``nn.InstanceNorm1d(channels)(x)`` (biased variance, eps 1e-5).
    """
    count = mask.sum(dim=-1, keepdim=True).clamp_min(1.0)
    mean = (x * mask).sum(dim=-1, keepdim=True) / count
    centred = (x - mean) * mask
    var = (centred**2).sum(dim=-1, keepdim=True) / count
    return centred / torch.sqrt(var + eps)


def local_window_allowed(window: int, block: int, device: torch.device | None = None) -> Tensor:
    """Which keys of a query block's key span each of its queries may see: ``[block, span]``.

    A block holds the ``block`` query frames ``b * block .. b * block + block - 1``; its key span
    starts at frame ``b * block - window // 2`` and is :func:`key_span` frames long. Query ``i``
    sees span positions ``i .. i + window - 1``, i.e. the frames
    ``t - window // 2 .. t + window - 1 - window // 2`` around its own frame ``t``: exactly
    ``window`` frames, itself included. This per-query band is the paper's local window.
    """
    query = torch.arange(block, device=device).unsqueeze(1)
    key = torch.arange(key_span(window, block), device=device).unsqueeze(0)
    return (key >= query) & (key < query + window)


def key_span(window: int, block: int) -> int:
    """Keys scored per query block: the ``block + window - 1`` a block's windows cover, rounded
    up to a multiple of 8 (aligned rows suit the fused attention kernels; the extra keys are
    never allowed by the band)."""
    return -(-(block + window - 1) // 8) * 8


MIN_QUERY_BLOCK = 64
"""Queries scored together at least; small windows are batched into blocks this long."""


class LocalWindowAttention(nn.Module):
    """Hierarchical local attention (one head), the attention layer of the encoder/decoder blocks.

    Self-attention in the encoder (queries, keys and values from the block's own stream) and
    cross-attention in the decoders (queries and keys from the decoder stream, values from the
    previous stage's features). Each frame attends to a window of ``window`` frames around
    itself; the window doubles layer by layer, which gives the model its hierarchy.

    Args:
        channels: feature maps in and out.
        window: frames per local window (``2**i`` in layer ``i``).
        qk_reduction: query/key channels are ``channels // qk_reduction`` (r1 = 2 published).
        v_reduction: value channels are ``channels // v_reduction`` (r2 = 2 published).
    """

    def __init__(self, channels: int, window: int, qk_reduction: int = 2, v_reduction: int = 2) -> None:
        super().__init__()
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        qk_channels = max(1, channels // qk_reduction)
        v_channels = max(1, channels // v_reduction)
        self.window = window
        self.query = nn.Conv1d(channels, qk_channels, 1)
        self.key = nn.Conv1d(channels, qk_channels, 1)
        self.value = nn.Conv1d(channels, v_channels, 1)
        self.out = nn.Conv1d(v_channels, channels, 1)

    def forward(self, qk_input: Tensor, v_input: Tensor, mask: Tensor) -> Tensor:
        """Args: ``qk_input``, ``v_input`` ``[batch, channels, time]``; ``mask`` ``[batch, 1, time]``.

        Returns ``[batch, channels, time]``, zero at padded frames.
        """
        attended = self.attend(self.query(qk_input), self.key(qk_input), self.value(v_input), mask)
        return self.out(F.relu(attended)) * mask

    def attend(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor:
        """Windowed scaled dot-product attention on projected inputs.

        Args:
            q, k: ``[batch, qk_channels, time]``; v: ``[batch, v_channels, time]``;
            mask: ``[batch, 1, time]``.

        Returns:
            ``[batch, v_channels, time]``.

        Cost is linear in time: queries are cut into blocks of ``max(window, 64)`` frames, each
        scored against its own key span only (the block plus ``window - 1`` frames, see
        :func:`key_span`), and the band mask of :func:`local_window_allowed` keeps each query's
        window inside that span.
        """
        length = q.shape[-1]
        w = self.window
        block = max(w, MIN_QUERY_BLOCK)
        span = key_span(w, block)
        n_blocks = -(-length // block)
        left = w // 2
        right = (n_blocks - 1) * block + span - left - length

        # Contiguous [batch, blocks, frames, channels] views: SDPA's fused CPU kernel wants them.
        q_blocks = F.pad(q, (0, n_blocks * block - length))
        q_blocks = q_blocks.unflatten(-1, (n_blocks, block)).permute(0, 2, 3, 1).contiguous()

        def spans(x: Tensor) -> Tensor:  # [B, c, T] -> [B, nb, span, c]
            return F.pad(x, (left, right)).unfold(-1, span, block).permute(0, 2, 3, 1).contiguous()

        k_spans, v_spans = spans(k), spans(v)
        key_valid = spans(mask)[..., 0] > 0  # [B, nb, span]; frames outside [0, T) are padding
        band = local_window_allowed(w, block, q.device)
        # A padded query may have no real key in reach; letting every query see its own frame
        # keeps softmax finite there. Real queries are unaffected: their own frame is real.
        own_frame = torch.zeros_like(band)
        rows = torch.arange(block, device=q.device)
        own_frame[rows, rows + left] = True
        allowed = band & (key_valid.unsqueeze(2) | own_frame)  # [B, nb, block, span]
        out = F.scaled_dot_product_attention(q_blocks, k_spans, v_spans, attn_mask=allowed)
        out = out.permute(0, 3, 1, 2).flatten(2)  # [B, cv, nb * block]
        return out[:, :, :length].contiguous()  # the next 1x1 conv is ~3x faster on this layout


class DilatedFeedForward(nn.Module):
    """The block's feed-forward layer: a dilated temporal convolution (kernel 3) + ReLU.

    ``[batch, channels, time] -> [batch, channels, time]``; reads zeros at padded frames as long
    as its input is zero there (every block output is masked), so padding adds nothing.
    """

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return F.relu(self.conv(x)) * mask


class ASFormerBlock(nn.Module):
    """One encoder or decoder block of Figure 2 (layer ``i`` of a stage).

    ``h = FF(x)``; ``h = alpha * Attention(IN(h), v) + h``; ``h = Conv1x1(h)``; dropout;
    output ``(x + h) * mask``. ``FF`` is a dilated convolution with dilation ``2**i``; the attention
    window is ``2**i`` frames. In the encoder ``v`` is the normalised stream itself
    (self-attention, ``alpha = 1``); in a decoder it is the previous stage's features
    (cross-attention, ``alpha`` decays with the decoder's index).

    Shapes: ``x`` ``[batch, channels, time]``, ``mask`` ``[batch, 1, time]``,
    ``value_source`` ``[batch, channels, time]`` or ``None`` (encoder).
    """

    def __init__(
        self,
        channels: int,
        layer_index: int,
        alpha: float = 1.0,
        qk_reduction: int = 2,
        v_reduction: int = 2,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        size = 2**layer_index
        self.alpha = alpha
        self.feed_forward = DilatedFeedForward(channels, dilation=size)
        self.attention = LocalWindowAttention(channels, window=size, qk_reduction=qk_reduction,
                                              v_reduction=v_reduction)
        self.conv_1x1 = nn.Conv1d(channels, channels, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor, value_source: Tensor | None = None) -> Tensor:
        h = self.feed_forward(x, mask)
        normed = masked_instance_norm(h, mask)
        values = normed if value_source is None else value_source
        h = self.alpha * self.attention(normed, values, mask) + h
        h = self.dropout(self.conv_1x1(h))
        return (x + h) * mask


class Encoder(nn.Module):
    """ASFormer encoder: channel masking -> 1x1 conv -> blocks with self-attention -> 1x1 conv.

    ``forward(features [batch, input_dim, time], mask [batch, 1, time])`` returns
    ``(logits [batch, num_classes, time], hidden [batch, num_f_maps, time])``.
    Channel masking (``Dropout1d``) drops whole input feature channels during training.
    """

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        num_layers: int,
        num_f_maps: int,
        channel_masking_rate: float,
        qk_reduction: int,
        v_reduction: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.channel_masking = nn.Dropout1d(channel_masking_rate)
        self.conv_in = nn.Conv1d(input_dim, num_f_maps, 1)
        self.blocks = nn.ModuleList(
            ASFormerBlock(num_f_maps, i, 1.0, qk_reduction, v_reduction, dropout)
            for i in range(num_layers)
        )
        self.conv_out = nn.Conv1d(num_f_maps, num_classes, 1)

    def forward(self, features: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        # The 1x1 conv's bias would put non-zeros at padded frames, which the first dilated
        # conv would then read; masking here keeps every stage padding-free.
        hidden = self.conv_in(self.channel_masking(features)) * mask
        for block in self.blocks:
            hidden = block(hidden, mask)
        return self.conv_out(hidden) * mask, hidden


class Decoder(nn.Module):
    """ASFormer decoder: refines the previous stage's class probabilities.

    ``forward(probabilities [batch, num_classes, time], value_source [batch, num_f_maps, time],
    mask [batch, 1, time])`` returns ``(logits [batch, num_classes, time],
    hidden [batch, num_f_maps, time])``. Queries and keys come from the probabilities' stream,
    values from ``value_source`` (the previous stage's hidden features), weighted by ``alpha``.
    """

    def __init__(
        self,
        num_classes: int,
        num_layers: int,
        num_f_maps: int,
        alpha: float,
        qk_reduction: int,
        v_reduction: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.alpha = alpha
        self.conv_in = nn.Conv1d(num_classes, num_f_maps, 1)
        self.blocks = nn.ModuleList(
            ASFormerBlock(num_f_maps, i, alpha, qk_reduction, v_reduction, dropout)
            for i in range(num_layers)
        )
        self.conv_out = nn.Conv1d(num_f_maps, num_classes, 1)

    def forward(self, probabilities: Tensor, value_source: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        hidden = self.conv_in(probabilities) * mask
        for block in self.blocks:
            hidden = block(hidden, mask, value_source)
        return self.conv_out(hidden) * mask, hidden


class ASFormer(nn.Module):
    """The full model: one encoder and ``num_decoders`` decoders for iterative refinement.

    Published defaults: ``num_layers=10``, ``num_f_maps=64``, ``num_decoders=3``,
    ``channel_masking_rate=0.3``, ``qk_reduction=v_reduction=2``, dropout 0.5, decoder alpha
    ``exp(-3 * i)``.

    ``forward(features [batch, input_dim, time], mask [batch, 1, time])`` returns logits
    ``[1 + num_decoders, batch, num_classes, time]``, zero at padded frames.
    """

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        num_layers: int = 10,
        num_f_maps: int = 64,
        num_decoders: int = 3,
        channel_masking_rate: float = 0.3,
        qk_reduction: int = 2,
        v_reduction: int = 2,
        dropout: float = 0.5,
        alpha_decay: float = 3.0,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if num_decoders < 0:
            raise ValueError(f"num_decoders must be >= 0, got {num_decoders}")
        self.num_classes = num_classes
        self.encoder = Encoder(input_dim, num_classes, num_layers, num_f_maps,
                               channel_masking_rate, qk_reduction, v_reduction, dropout)
        self.decoders = nn.ModuleList(
            Decoder(num_classes, num_layers, num_f_maps, decoder_alpha(s, alpha_decay),
                    qk_reduction, v_reduction, dropout)
            for s in range(num_decoders)
        )

    @property
    def num_stages(self) -> int:
        return 1 + len(self.decoders)

    def forward(self, features: Tensor, mask: Tensor) -> Tensor:
        logits, hidden = self.encoder(features, mask)
        stages = [logits]
        for decoder in self.decoders:
            probabilities = F.softmax(logits, dim=1) * mask
            logits, hidden = decoder(probabilities, hidden * mask, mask)
            stages.append(logits)
        return torch.stack(stages)

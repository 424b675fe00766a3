"""MS-TCN++ (Li, Farha, Liu, Cheng & Gall, "MS-TCN++: Multi-Stage Temporal Convolutional Network
for Action Segmentation", TPAMI 2020): the fast, purely convolutional reference baseline.

Job: the same contract as :class:`egoinstruct.models.asformer.ASFormer`. Frame features
``[batch, input_dim, time]`` and a mask ``[batch, 1, time]`` (1.0 at real frames) in, logits of
every stage ``[1 + num_refinements, batch, num_classes, time]`` out (zero at padded frames).

Blocks, named after the paper: a prediction-generation stage of dual dilated layers (two
dilated convolutions per layer, dilation ``2**(L-1-l)`` and ``2**l``, fused by a 1x1 conv), then
refinement stages of single dilated residual layers (dilation ``2**l``) that read the previous
stage's softmax. Unlike the public code (github.com/sj-li/MS-TCN2), every layer's output is
multiplied by the mask, so padded frames read as zeros and batches of unequal lengths give the
same outputs at real frames as each sequence alone; with one unpadded sequence nothing changes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class DualDilatedLayer(nn.Module):
    """Layer ``l`` of ``L`` of the prediction-generation stage.

    ``h = ReLU(Conv1x1([DConv_{2**(L-1-l)}(x), DConv_{2**l}(x)]))``; dropout; output
    ``(x + h) * mask``. The two dilations give each layer both a small and a large receptive
    field. Shapes: ``x`` ``[batch, channels, time]``, ``mask`` ``[batch, 1, time]``.
    """

    def __init__(self, channels: int, layer_index: int, num_layers: int, dropout: float = 0.5) -> None:
        super().__init__()
        large = 2 ** (num_layers - 1 - layer_index)
        small = 2**layer_index
        self.conv_large = nn.Conv1d(channels, channels, 3, padding=large, dilation=large)
        self.conv_small = nn.Conv1d(channels, channels, 3, padding=small, dilation=small)
        self.fusion = nn.Conv1d(2 * channels, channels, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        h = self.fusion(torch.cat([self.conv_large(x), self.conv_small(x)], dim=1))
        h = self.dropout(F.relu(h))
        return (x + h) * mask


class PredictionGeneration(nn.Module):
    """First stage: 1x1 conv -> ``num_layers`` dual dilated layers -> 1x1 conv to classes.

    ``forward(features [batch, input_dim, time], mask [batch, 1, time])`` returns logits
    ``[batch, num_classes, time]``.
    """

    def __init__(self, input_dim: int, num_classes: int, num_layers: int, num_f_maps: int,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.conv_in = nn.Conv1d(input_dim, num_f_maps, 1)
        self.layers = nn.ModuleList(
            DualDilatedLayer(num_f_maps, i, num_layers, dropout) for i in range(num_layers)
        )
        self.conv_out = nn.Conv1d(num_f_maps, num_classes, 1)

    def forward(self, features: Tensor, mask: Tensor) -> Tensor:
        # Mask after the input conv: its bias would otherwise be read at padded frames.
        hidden = self.conv_in(features) * mask
        for layer in self.layers:
            hidden = layer(hidden, mask)
        return self.conv_out(hidden) * mask


class DilatedResidualLayer(nn.Module):
    """Layer ``l`` of a refinement stage: ``(x + Dropout(Conv1x1(ReLU(DConv_{2**l}(x))))) * mask``.

    Shapes: ``x`` ``[batch, channels, time]``, ``mask`` ``[batch, 1, time]``.
    """

    def __init__(self, channels: int, dilation: int, dropout: float = 0.5) -> None:
        super().__init__()
        self.conv_dilated = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.conv_1x1 = nn.Conv1d(channels, channels, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        h = self.dropout(self.conv_1x1(F.relu(self.conv_dilated(x))))
        return (x + h) * mask


class Refinement(nn.Module):
    """A refinement stage: previous stage's probabilities -> 1x1 conv -> residual layers -> logits.

    ``forward(probabilities [batch, num_classes, time], mask [batch, 1, time])`` returns logits
    ``[batch, num_classes, time]``.
    """

    def __init__(self, num_classes: int, num_layers: int, num_f_maps: int, dropout: float = 0.5) -> None:
        super().__init__()
        self.conv_in = nn.Conv1d(num_classes, num_f_maps, 1)
        self.layers = nn.ModuleList(
            DilatedResidualLayer(num_f_maps, 2**i, dropout) for i in range(num_layers)
        )
        self.conv_out = nn.Conv1d(num_f_maps, num_classes, 1)

    def forward(self, probabilities: Tensor, mask: Tensor) -> Tensor:
        hidden = self.conv_in(probabilities) * mask
        for layer in self.layers:
            hidden = layer(hidden, mask)
        return self.conv_out(hidden) * mask


class MSTCNPlusPlus(nn.Module):
    """MS-TCN++: prediction generation + ``num_refinements`` refinement stages.

    Published defaults (the authors' training script): ``num_layers_pg=11``,
    ``num_layers_r=10``, ``num_refinements=3``, ``num_f_maps=64``, dropout 0.5.

    ``forward(features [batch, input_dim, time], mask [batch, 1, time])`` returns logits
    ``[1 + num_refinements, batch, num_classes, time]``, zero at padded frames.
    """

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        num_layers_pg: int = 11,
        num_layers_r: int = 10,
        num_refinements: int = 3,
        num_f_maps: int = 64,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if num_layers_pg < 1 or num_layers_r < 1:
            raise ValueError("num_layers_pg and num_layers_r must be >= 1")
        if num_refinements < 0:
            raise ValueError(f"num_refinements must be >= 0, got {num_refinements}")
        self.num_classes = num_classes
        self.prediction_generation = PredictionGeneration(input_dim, num_classes, num_layers_pg,
                                                          num_f_maps, dropout)
        self.refinements = nn.ModuleList(
            Refinement(num_classes, num_layers_r, num_f_maps, dropout) for _ in range(num_refinements)
        )

    @property
    def num_stages(self) -> int:
        return 1 + len(self.refinements)

    def forward(self, features: Tensor, mask: Tensor) -> Tensor:
        logits = self.prediction_generation(features, mask)
        stages = [logits]
        for refinement in self.refinements:
            logits = refinement(F.softmax(logits, dim=1) * mask, mask)
            stages.append(logits)
        return torch.stack(stages)

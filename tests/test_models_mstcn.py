"""MS-TCN++ architecture: shapes, padding, the dual dilated layer, refinement inputs and the
published model's size. (Training on a task: tests/test_models_training.py.)"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from egoinstruct.models.mstcn import DualDilatedLayer, MSTCNPlusPlus

from model_utils import one_thread, padded_batch  # noqa: F401 - one_thread is an autouse fixture


def test_output_shapes_for_a_batch_of_different_lengths() -> None:
    torch.manual_seed(0)
    model = MSTCNPlusPlus(input_dim=10, num_classes=6, num_layers_pg=5, num_layers_r=4,
                          num_refinements=3, num_f_maps=16)
    features, mask = padded_batch([31, 64, 9], dim=10)
    logits = model(features, mask)
    assert logits.shape == (4, 3, 6, 64)  # [1 + refinements, batch, classes, time]
    assert model.num_stages == 4
    assert torch.all(logits[:, 0, :, 31:] == 0)
    assert torch.all(logits[:, 2, :, 9:] == 0)


def test_padding_does_not_change_outputs_at_real_frames() -> None:
    torch.manual_seed(1)
    model = MSTCNPlusPlus(input_dim=6, num_classes=4, num_layers_pg=6, num_layers_r=5,
                          num_refinements=2, num_f_maps=8).eval()
    features, mask = padded_batch([80, 29], dim=6, seed=2)
    with torch.no_grad():
        together = model(features, mask)
        alone = model(features[1:, :, :29], mask[1:, :, :29])
    torch.testing.assert_close(together[:, 1, :, :29], alone[:, 0], rtol=1e-5, atol=1e-5)


def test_dual_dilated_layer_combines_a_large_and_a_small_dilation() -> None:
    torch.manual_seed(2)
    layer = DualDilatedLayer(channels=4, layer_index=1, num_layers=5, dropout=0.0).eval()
    assert layer.conv_large.dilation == (8,)  # 2 ** (L - 1 - l)
    assert layer.conv_small.dilation == (2,)  # 2 ** l
    x = torch.randn(1, 4, 40)
    mask = torch.ones(1, 1, 40)
    mask[:, :, 35:] = 0
    x = x * mask
    large = F.conv1d(x, layer.conv_large.weight, layer.conv_large.bias, padding=8, dilation=8)
    small = F.conv1d(x, layer.conv_small.weight, layer.conv_small.bias, padding=2, dilation=2)
    fused = F.conv1d(torch.cat([large, small], dim=1), layer.fusion.weight, layer.fusion.bias)
    expected = (x + F.relu(fused)) * mask
    with torch.no_grad():
        torch.testing.assert_close(layer(x, mask), expected)


def test_refinement_stages_read_the_previous_stage_probabilities() -> None:
    torch.manual_seed(3)
    model = MSTCNPlusPlus(input_dim=5, num_classes=3, num_layers_pg=3, num_layers_r=3,
                          num_refinements=1, num_f_maps=8).eval()
    features, mask = padded_batch([20], dim=5)
    with torch.no_grad():
        logits = model(features, mask)
        probabilities = torch.softmax(logits[0], dim=1) * mask
        torch.testing.assert_close(model.refinements[0](probabilities, mask), logits[1])


def test_receptive_field_is_bounded() -> None:
    """A change at frame 0 reaches frame t only within the stages' receptive field."""
    torch.manual_seed(4)
    model = MSTCNPlusPlus(input_dim=3, num_classes=2, num_layers_pg=3, num_layers_r=2,
                          num_refinements=0, num_f_maps=4).eval()
    x, mask = torch.randn(1, 3, 60), torch.ones(1, 1, 60)
    changed = x.clone()
    changed[:, :, 0] += 10.0
    with torch.no_grad():
        diff = (model(x, mask) - model(changed, mask))[0, 0].abs().sum(dim=0)
    # Three dual layers with dilations (4, 1), (2, 2), (1, 4): reach 4 + 2 + 4 = 10 frames.
    assert diff[10] > 0
    assert torch.all(diff[11:] == 0)


def test_paper_sized_model_has_the_published_architecture_size() -> None:
    conv = lambda cin, cout, k=1: cin * cout * k + cout  # noqa: E731
    pg = conv(2048, 64) + 11 * (2 * conv(64, 64, 3) + conv(128, 64)) + conv(64, 19)
    refinement = conv(19, 64) + 10 * (conv(64, 64, 3) + conv(64, 64)) + conv(64, 19)
    model = MSTCNPlusPlus(input_dim=2048, num_classes=19)
    assert sum(p.numel() for p in model.parameters()) == pg + 3 * refinement == 997_836

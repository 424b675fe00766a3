"""ASFormer architecture: shapes, padding, the local-window mask, normalisation, fidelity to the
published model's size. (Training on a task: tests/test_models_training.py.)"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from egoinstruct.models.asformer import (
    ASFormer,
    ASFormerBlock,
    LocalWindowAttention,
    decoder_alpha,
    masked_instance_norm,
)

from model_utils import one_thread, padded_batch  # noqa: F401 - one_thread is an autouse fixture


def test_output_shapes_for_a_batch_of_different_lengths() -> None:
    torch.manual_seed(0)
    model = ASFormer(input_dim=12, num_classes=5, num_layers=4, num_f_maps=16, num_decoders=2)
    features, mask = padded_batch([40, 17, 33], dim=12)
    logits = model(features, mask)
    assert logits.shape == (3, 3, 5, 40)  # [1 + decoders, batch, classes, time]
    assert model.num_stages == 3
    # Padded frames carry no prediction.
    assert torch.all(logits[:, 1, :, 17:] == 0)
    assert torch.all(logits[:, 2, :, 33:] == 0)
    assert torch.all(logits[:, 1, :, :17].abs().sum(dim=1) > 0)


@pytest.mark.parametrize("num_layers", [3, 7])  # windows up to 4 frames / up to 64 > length
def test_padding_does_not_change_outputs_at_real_frames(num_layers: int) -> None:
    torch.manual_seed(1)
    model = ASFormer(input_dim=6, num_classes=4, num_layers=num_layers, num_f_maps=8,
                     num_decoders=2).eval()
    features, mask = padded_batch([57, 23], dim=6, seed=3)
    with torch.no_grad():
        together = model(features, mask)
        alone = model(features[1:, :, :23], mask[1:, :, :23])
        longer_alone = model(features[:1], mask[:1])
    torch.testing.assert_close(together[:, 1, :, :23], alone[:, 0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(together[:, 0], longer_alone[:, 0], rtol=1e-5, atol=1e-5)


def _dense_window_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, valid: torch.Tensor,
                            window: int) -> torch.Tensor:
    """Reference: full T x T attention where frame t sees t - w//2 .. t + w - 1 - w//2."""
    t = torch.arange(q.shape[-1])
    offset = t[None, :] - t[:, None]
    allowed = (offset >= -(window // 2)) & (offset <= window - 1 - window // 2) & valid[None, :]
    scores = (q.T @ k) / math.sqrt(q.shape[0])
    scores = scores.masked_fill(~allowed, float("-inf"))
    return (torch.softmax(scores, dim=-1) @ v.T).T


@pytest.mark.parametrize("window", [1, 2, 4, 8, 32, 64, 128])
def test_blocked_attention_equals_dense_windowed_attention(window: int) -> None:
    torch.manual_seed(2)
    layer = LocalWindowAttention(channels=8, window=window)
    length, n_real = 150, 131
    q, k, v = torch.randn(1, 4, length), torch.randn(1, 4, length), torch.randn(1, 4, length)
    mask = torch.ones(1, 1, length)
    mask[:, :, n_real:] = 0
    out = layer.attend(q, k, v, mask)
    reference = _dense_window_attention(q[0], k[0], v[0], mask[0, 0] > 0, window)
    torch.testing.assert_close(out[0, :, :n_real], reference[:, :n_real], rtol=1e-5, atol=1e-5)


def test_a_frame_outside_the_window_does_not_change_the_attention_output() -> None:
    """Window of 8 frames: frame 8 sees frames 4..11 only.

    Frame 15 lies in the same 8-frame block as frame 8 and inside the key span the public code
    lets the whole block see (frames 4..19); with the paper's mask it must have no effect.
    """
    torch.manual_seed(3)
    layer = LocalWindowAttention(channels=8, window=8).eval()
    x = torch.randn(1, 8, 40)
    mask = torch.ones(1, 1, 40)
    query = 8

    def output_at_query(perturbed_frame: int) -> torch.Tensor:
        changed = x.clone()
        changed[:, :, perturbed_frame] += 5.0
        with torch.no_grad():
            return layer(changed, changed, mask)[0, :, query]

    with torch.no_grad():
        base = layer(x, x, mask)[0, :, query]
    for outside in (3, 12, 15, 19, 30):
        torch.testing.assert_close(output_at_query(outside), base, rtol=0, atol=0)
    for inside in (4, 7, 9, 11):
        assert (output_at_query(inside) - base).abs().max() > 1e-3, f"frame {inside} ignored"


def test_block_windows_grow_per_layer_and_cross_attention_values() -> None:
    model = ASFormer(input_dim=4, num_classes=3, num_layers=5, num_f_maps=8, num_decoders=3)
    windows = [block.attention.window for block in model.encoder.blocks]
    dilations = [block.feed_forward.conv.dilation[0] for block in model.encoder.blocks]
    assert windows == [1, 2, 4, 8, 16]
    assert dilations == [1, 2, 4, 8, 16]
    assert [d.alpha for d in model.decoders] == pytest.approx([1.0, math.exp(-3), math.exp(-6)])
    assert all(b.alpha == 1.0 for b in model.encoder.blocks)
    assert decoder_alpha(2, decay=3.0) == pytest.approx(math.exp(-6))


def test_decoder_block_takes_values_from_the_value_source() -> None:
    torch.manual_seed(4)
    block = ASFormerBlock(channels=8, layer_index=2, alpha=1.0).eval()
    x, mask = torch.randn(1, 8, 30), torch.ones(1, 1, 30)
    values = torch.randn(1, 8, 30)
    with torch.no_grad():
        a = block(x, mask, values)
        b = block(x, mask, values * 2.0)
        self_attention = block(x, mask)
    assert (a - b).abs().max() > 1e-4
    assert (a - self_attention).abs().max() > 1e-4


def test_masked_instance_norm_matches_instance_norm_and_ignores_padding() -> None:
    torch.manual_seed(5)
    x = torch.randn(2, 6, 25)
    full = torch.ones(2, 1, 25)
    torch.testing.assert_close(masked_instance_norm(x, full), nn.InstanceNorm1d(6)(x),
                               rtol=1e-5, atol=1e-5)
    mask = full.clone()
    mask[1, :, 10:] = 0
    garbage = x.clone()
    garbage[1, :, 10:] = 1000.0
    normed = masked_instance_norm(garbage, mask)
    torch.testing.assert_close(normed[1, :, :10], nn.InstanceNorm1d(6)(x[1:, :, :10])[0],
                               rtol=1e-5, atol=1e-5)
    assert torch.all(normed[1, :, 10:] == 0)


def test_channel_masking_drops_whole_input_channels_in_training_only() -> None:
    torch.manual_seed(6)
    model = ASFormer(input_dim=64, num_classes=3, num_layers=2, num_f_maps=8, num_decoders=0,
                     channel_masking_rate=0.3)
    x = torch.ones(1, 64, 20)
    dropped = model.encoder.channel_masking(x)
    zero_channels = (dropped == 0).all(dim=-1).sum().item()
    assert 5 <= zero_channels <= 35
    scaled = torch.isclose(dropped, torch.full_like(dropped, 1 / 0.7))
    assert ((dropped == 0) | scaled).all()  # survivors rescaled by 1 / (1 - rate)
    model.eval()
    assert torch.equal(model.encoder.channel_masking(x), x)


def _published_parameter_count(input_dim: int, classes: int, layers: int, maps: int,
                               decoders: int) -> int:
    """Parameters of the public ASFormer (r1 = r2 = 2), counted layer by layer by hand."""
    conv = lambda cin, cout, k=1: cin * cout * k + cout  # noqa: E731
    block = conv(maps, maps, 3) + 3 * conv(maps, maps // 2) + conv(maps // 2, maps) + conv(maps, maps)
    encoder = conv(input_dim, maps) + layers * block + conv(maps, classes)
    decoder = conv(classes, maps) + layers * block + conv(maps, classes)
    return encoder + decoders * decoder


def test_paper_sized_model_has_the_published_architecture_size() -> None:
    model = ASFormer(input_dim=2048, num_classes=19)  # 50Salads: 1,134,476 in the public code
    n = sum(p.numel() for p in model.parameters())
    assert n == _published_parameter_count(2048, 19, 10, 64, 3) == 1_134_476

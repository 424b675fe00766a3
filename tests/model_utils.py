"""Shared helpers of the segmentation-model tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    # The test machine's cores are shared; one intra-op thread avoids oversubscription stalls.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def padded_batch(lengths: list[int], dim: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random features ``[B, dim, max(lengths)]`` zeroed past each length, and the mask."""
    generator = torch.Generator().manual_seed(seed)
    length = max(lengths)
    features = torch.randn(len(lengths), dim, length, generator=generator)
    mask = torch.zeros(len(lengths), 1, length)
    for i, n in enumerate(lengths):
        mask[i, :, :n] = 1.0
    return features * mask, mask

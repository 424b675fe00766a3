"""Settings of the visual stages: embeddings (``features``) and head motion (``head_motion``)."""

from __future__ import annotations

from dataclasses import dataclass

from egoinstruct.settings import Settings


@dataclass(frozen=True)
class FeatureSettings(Settings):
    """``features``: one embedding per frame from a pretrained backbone, offline."""

    fps: float
    model: str  # efficientnet_lite0 | timm:<name> | torchvision:<name>
    weights: str | None  # local checkpoint; None: the packaged EfficientNet-Lite0 weights
    input_size: int | None  # None: the model's own
    resize: str  # full | center_crop
    batch_size: int
    device: str  # cpu | cuda | auto
    roles: tuple[str, ...]  # roles of the devices that get features (the workflow plans by it)


@dataclass(frozen=True)
class HeadMotionSettings(Settings):
    """``head_motion``: angular head speed from the MPS trajectory or the video's optical flow."""

    fps: float
    method: str  # auto | video | trajectory
    flow_width: int

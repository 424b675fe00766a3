"""Visual features: the packaged EfficientNet-Lite0 weights load right, extraction on the session
clock, metadata, other backbones by local weights, clear errors for missing ones."""

import dataclasses
import json
import os

import cv2
import matplotlib
import numpy as np
import pytest
import torch

from egoinstruct.clock import DeviceClock
from egoinstruct.errors import InputError, MissingModelError
from egoinstruct.settings.visual import FeatureSettings
from egoinstruct.settings.workflow import defaults_for
from egoinstruct.tables import table_metadata
from egoinstruct.visual.features import (
    Preprocessing,
    _lite0,
    extract_features,
    load_backbone,
    packaged_lite0_weights,
    read_embeddings,
)

from conftest import make_video

PORTRAIT = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
MILITARY_UNIFORM = 652  # ImageNet class of the classic Grace Hopper portrait
# The packaged EfficientNet-Lite0 on CPU at its own input size (the config's features section otherwise).
LITE0 = defaults_for(FeatureSettings, model="efficientnet_lite0", weights=None, input_size=None, device="cpu")


def features(**changes) -> FeatureSettings:
    return dataclasses.replace(LITE0, **changes)


def clock(offset_s: float, duration_s: float) -> DeviceClock:
    return DeviceClock(device="d", offset_s=offset_s, drift_ppm=0.0, session_duration_s=duration_s)


@pytest.fixture(scope="module")
def backbone():
    return load_backbone(LITE0)


def test_packaged_weights_classify_a_real_photo():
    """The position-mapped weights in timm's tf_efficientnet_lite0 with (x − 0.5)/0.5 inputs
    must recognise ImageNet content: a wrong mapping or normalisation gives noise."""
    model, prep = _lite0(packaged_lite0_weights())
    # _lite0 removes the classifier; put the packaged one back to read the class
    state = torch.load(packaged_lite0_weights(), map_location="cpu", weights_only=True)
    head = torch.nn.Linear(1280, 1000)
    head.weight.data, head.bias.data = state["_fc.weight"], state["_fc.bias"]
    pre = Preprocessing(prep["input_size"], prep["mean"], prep["std"], resize="center_crop")
    x = torch.from_numpy(pre(cv2.imread(PORTRAIT))[None])
    with torch.inference_mode():
        probabilities = head(model.eval()(x)).softmax(-1)[0]
    assert int(probabilities.argmax()) == MILITARY_UNIFORM and float(probabilities.max()) > 0.3


def test_preprocessing_by_hand():
    pre = Preprocessing(4, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    image = np.zeros((8, 12, 3), np.uint8)
    image[..., 2] = 255  # red in BGR
    out = pre(image)
    assert out.shape == (3, 4, 4) and out.dtype == np.float32
    assert np.allclose(out[0], 1.0) and np.allclose(out[1:], -1.0)  # RGB order, [-1, 1]
    crop = Preprocessing(2, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), resize="center_crop")
    image = np.zeros((4, 8, 3), np.uint8)
    image[:, 2:6] = 255  # the centre square is white, the sides black
    assert np.allclose(crop(image), 1.0)
    with pytest.raises(InputError, match="features.resize"):
        Preprocessing(2, (0.0,) * 3, (1.0,) * 3, resize="stretch")


def test_extraction_on_the_session_clock(tmp_path, backbone):
    video = make_video(tmp_path / "v.mp4", duration_s=2.0, audio=False, size="96x64")
    out = tmp_path / "visual.parquet"
    settings = features(fps=5, batch_size=4)
    n = extract_features(video, out, clock(0.5, 2.2), settings=settings, threads=1,
                         backbone=backbone, metadata={"session": "s", "device": "d"})
    t, embeddings = read_embeddings(out)
    # the device covers 0.5 … 2.5 s of a 2.2 s session: rows at 0.6, 0.8, …, 2.0 (and 0.5 itself)
    assert np.allclose(t, np.arange(3, 11) / 5) and n == len(t) == 8
    assert embeddings.shape == (8, 1280) and embeddings.dtype == np.float32
    assert np.isfinite(embeddings).all() and embeddings.std(axis=0).max() > 0  # frames differ
    meta = table_metadata(out)
    assert meta["model"] == "efficientnet_lite0" and meta["embedding_dim"] == "1280"
    assert json.loads(meta["preprocessing"])["mean"] == [0.5, 0.5, 0.5]
    assert len(meta["weights_sha256"]) == 64 and meta["session"] == "s" and meta["offset_s"] == "0.5"
    # same frames, same embeddings: batching does not change the numbers
    extract_features(video, tmp_path / "b.parquet", clock(0.5, 2.2), features(fps=5, batch_size=3),
                     backbone=backbone)
    assert np.allclose(read_embeddings(tmp_path / "b.parquet")[1], embeddings, atol=1e-4)


def test_no_overlap_is_an_error(tmp_path, backbone):
    video = make_video(tmp_path / "v.mp4", duration_s=1.0, audio=False)
    with pytest.raises(InputError, match="no frame falls inside the session"):
        extract_features(video, tmp_path / "x.parquet", clock(5.0, 2.0), LITE0, backbone=backbone)
    assert not (tmp_path / "x.parquet").exists()


def test_missing_weights_are_explained(tmp_path):
    with pytest.raises(MissingModelError, match="needs features.weights"):
        load_backbone(features(model="timm:resnet18"))
    with pytest.raises(MissingModelError, match="nope.pth: model weights not found"):
        load_backbone(features(model="timm:resnet18", weights=str(tmp_path / "nope.pth")))
    with pytest.raises(MissingModelError, match="nope.pth"):
        load_backbone(features(weights=str(tmp_path / "nope.pth")))
    wrong = tmp_path / "wrong.pth"
    torch.save({"a.weight": torch.zeros(3)}, wrong)
    with pytest.raises(MissingModelError, match="not an EfficientNet-Lite0 checkpoint"):
        load_backbone(features(weights=str(wrong)))
    with pytest.raises(InputError, match="expected efficientnet_lite0, timm:<name> or torchvision:<name>"):
        load_backbone(features(model="keras:x", weights=str(wrong)))


@pytest.mark.parametrize("kind,name,head", [("timm", "resnet18", "fc"), ("torchvision", "resnet18", "fc")])
def test_other_backbones_from_local_weights(tmp_path, kind, name, head):
    import timm
    import torchvision

    torch.manual_seed(0)
    model = timm.create_model(name) if kind == "timm" else torchvision.models.get_model(name)
    path = tmp_path / f"{name}.pth"
    torch.save({"state_dict": model.state_dict()}, path)  # wrapped, as training checkpoints are
    backbone = load_backbone(features(model=f"{kind}:{name}", weights=str(path), input_size=64))
    assert backbone.dim == 512 and backbone.preprocessing.mean == (0.485, 0.456, 0.406)
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    # the embedding is the pooled input of the removed classifier
    getattr(model, head).register_forward_hook(lambda m, inp, out: captured.append(inp[0]))
    captured: list[torch.Tensor] = []
    with torch.inference_mode():
        model.eval()(torch.from_numpy(x))
    assert np.allclose(backbone.embed(x), captured[0].numpy(), atol=1e-5)
    bad = tmp_path / "bad.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, bad)
    with pytest.raises(MissingModelError, match="does not fit"):
        load_backbone(features(model=f"{kind}:{name}", weights=str(bad)))

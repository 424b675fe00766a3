"""Label sets: one YAML file per task (and, for per-procedure tasks, per procedure) in the labels
folder, named by the task registry (:mod:`egoinstruct.tasks`): ``states.yaml``,
``steps_<procedure>.yaml``.

A label file holds ``tier`` (the task), for per-procedure tasks the ``procedure``, and
``labels``: an ordered mapping label → one-line description. The order is the class index used by the models;
the descriptions feed the MLLM prompts and the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from egoinstruct.errors import InputError
from egoinstruct.tasks import TASK_NAMES, get_task


@dataclass(frozen=True)
class LabelSet:
    tier: str
    labels: tuple[str, ...]
    descriptions: dict[str, str]
    procedure: str | None = None
    path: Path | None = None

    def index(self, label: str) -> int:
        return self.labels.index(label)

    def __contains__(self, label: object) -> bool:
        return label in self.descriptions


def label_file(labels_dir: str | Path, tier: str, procedure: str | None = None) -> Path:
    """Path of the label set of task ``tier`` (of ``procedure`` for per-procedure tasks)."""
    return Path(labels_dir) / get_task(tier).label_file_name(procedure)


@lru_cache(maxsize=64)
def _load(path: Path) -> LabelSet:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise InputError(
            f"{path}: label set not found; create it (see resources/labels/README.md) or fix the "
            "procedure name in the annotation sheet"
        ) from exc
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("labels"), dict) or not data["labels"]:
        raise InputError(f"{path}: expected a mapping with a non-empty 'labels' mapping (label: description)")
    tier = data.get("tier")
    if tier not in TASK_NAMES:
        raise InputError(f"{path}: 'tier' must be one of {', '.join(TASK_NAMES)}, got {tier!r}")
    descriptions = {str(k): str(v).strip() for k, v in data["labels"].items()}
    empty = [k for k, v in descriptions.items() if not v]
    if empty:
        raise InputError(f"{path}: label(s) {', '.join(empty)} lack a one-line description")
    return LabelSet(
        tier=tier,
        labels=tuple(descriptions),
        descriptions=descriptions,
        procedure=data.get("procedure"),
        path=path,
    )


def labels_folder(label_files: list[str] | tuple[str, ...]) -> Path:
    """The labels folder of a rule's label-set inputs (one folder; any folder when there are none,
    as nothing will be looked up). Rules pass the label files they read as inputs, so that editing
    one reruns them; the code finds the others' siblings by task and procedure."""
    folders = {Path(p).parent for p in label_files}
    if len(folders) > 1:
        raise ValueError(f"label sets from several folders: {sorted(map(str, folders))}")
    return folders.pop() if folders else Path(".")


def load_labels(labels_dir: str | Path, tier: str, procedure: str | None = None) -> LabelSet:
    """Load (cached) the label set of ``tier`` / ``procedure`` from ``labels_dir``."""
    return _load(label_file(labels_dir, tier, procedure).resolve())

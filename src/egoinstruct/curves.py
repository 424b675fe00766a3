"""Training curves of the epoch-trained baselines: loss and frame accuracy per epoch.

Drawn from epoch records (``history.json`` of a fold, or the ``history`` of its
``training.json``): a PNG beside the model when it is trained, and the same figure in the report.
Kept apart from the models so that drawing a curve does not import torch.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def _rows(history: Sequence[Any] | str | Path) -> list[Mapping[str, Any]]:
    if isinstance(history, str | Path):
        return list(json.loads(Path(history).read_text()))
    return [dataclasses.asdict(r) if dataclasses.is_dataclass(r) and not isinstance(r, type) else r
            for r in history]


def training_curves_png(history: Sequence[Any] | str | Path, title: str = "") -> bytes:
    """Loss and frame accuracy per epoch (train, and val where recorded) as PNG bytes.

    ``history``: epoch records (``EpochRecord`` or their dict form) or a ``history.json`` path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _rows(history)
    epochs = [r["epoch"] for r in rows]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax_loss.plot(epochs, [r["train_loss"] for r in rows], label="train")
    ax_acc.plot(epochs, [r["train_accuracy"] for r in rows], label="train")
    val = [r for r in rows if r.get("val_accuracy") is not None]
    if val:
        ax_loss.plot([r["epoch"] for r in val], [r["val_loss"] for r in val], label="val")
        ax_acc.plot([r["epoch"] for r in val], [r["val_accuracy"] for r in val], label="val")
    ax_loss.set(xlabel="epoch", ylabel="loss (CE + smoothing, all stages)")
    ax_acc.set(xlabel="epoch", ylabel="frame accuracy", ylim=(0.0, 1.0))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def plot_training_curves(history: Sequence[Any] | str | Path, path: str | Path, title: str = "") -> Path:
    """:func:`training_curves_png` written to ``path``."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(training_curves_png(history, title))
    return out

"""The demo sessions' results against the generator's truth: the ``demo_quality`` rule.

Demo sessions carry their truth beside them (``<demo root>/<session>/truth/``): the clock offset
of every device, the scripted dialogue, the intended gaze pixels. :func:`demo_quality` compares
the pipeline's results with it — clock offsets and residual audio lags, WER / DER / role
attribution (:mod:`egoinstruct.speech.quality`), gaze pixel error and target agreement
(:mod:`egoinstruct.gaze.check`) — into one record, ``results/data/demo_quality.json``, which the
report and ``egoinstruct check-demo`` both read. Every file comes from the rule's inputs
(:class:`DemoSessionFiles`); none is looked up here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from egoinstruct.gaze.check import GazeFiles, gaze_errors
from egoinstruct.io import json_safe
from egoinstruct.speech.quality import SpeechFiles, speech_errors, speech_summary


@dataclass(frozen=True)
class DemoSessionFiles:
    """One demo session's truth and results (the ``demo_quality`` rule's inputs)."""

    session: str
    truth: Path  # truth/truth.json
    sync: Path  # sync.json
    alignment: Path  # audio_alignment.json
    speech: SpeechFiles
    gaze: list[GazeFiles] = field(default_factory=list)


def sync_errors(files: Sequence[DemoSessionFiles]) -> pd.DataFrame:
    """One row per session and device: estimated and true offset, error, confidence, residual lag."""
    rows = []
    for f in files:
        sync = json.loads(Path(f.sync).read_text())
        truth = json.loads(Path(f.truth).read_text())
        alignment = json.loads(Path(f.alignment).read_text())
        for device, clock in sync["devices"].items():
            true_offset = truth["devices"][device]["offset_s"]
            residual = alignment["devices"].get(device, {}).get("residual_lag_s")
            rows.append(
                {
                    "session": f.session,
                    "device": device,
                    "method": clock["method"],
                    "offset_s": clock["offset_s"],
                    "true_offset_s": true_offset,
                    "error_ms": 1000.0 * (clock["offset_s"] - true_offset),
                    "confidence_psr": clock["confidence_psr"],
                    "residual_lag_ms": None if residual is None else 1000.0 * residual,
                }
            )
    return pd.DataFrame(rows, columns=["session", "device", "method", "offset_s", "true_offset_s", "error_ms",
                                       "confidence_psr", "residual_lag_ms"])


def demo_quality(files: Sequence[DemoSessionFiles], frame_period_s: float) -> dict[str, Any]:
    """Every comparison of the demo sessions with their truth, as plain JSON data: ``sync``,
    ``speech`` and ``gaze`` (rows), ``speech_summary`` (pooled), and ``sync_summary``
    (worst offset error of the estimated devices against one video frame, worst residual lag)."""
    sync = sync_errors(files)
    estimated = sync[sync.method == "gcc_phat"]
    speech = speech_errors([f.speech for f in files])
    gaze = gaze_errors([g for f in files for g in f.gaze])
    return json_safe({
        "sessions": [f.session for f in files],
        "sync": sync.to_dict(orient="records"),
        "sync_summary": {
            "estimated_devices": int(len(estimated)),
            "worst_abs_error_ms": float(estimated.error_ms.abs().max()) if len(estimated) else None,
            "frame_period_ms": 1000.0 * frame_period_s,
            "worst_abs_residual_lag_ms": float(sync.residual_lag_ms.abs().max()) if len(sync) else None,
        },
        "speech": speech.to_dict(orient="records"),
        "speech_summary": speech_summary(speech),
        "gaze": gaze.to_dict(orient="records"),
    })

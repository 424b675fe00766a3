"""Check pipeline outputs against the demo generator's truth files.

Demo sessions carry their truth beside them (``<demo root>/<session>/truth/``): the clock offset
of every device, the scripted dialogue, the intended gaze pixels. The functions here compare
the pipeline's results with it, so every stage can report how close it gets on data where the
answer is known (``egoinstruct check-demo``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def sync_errors(results_dir: str | Path, demo_root: str | Path, sessions: list[str]) -> pd.DataFrame:
    """One row per session and device: estimated and true offset, error, confidence, residual lag."""
    rows = []
    for session in sessions:
        base = Path(results_dir) / "sessions" / session
        sync = json.loads((base / "sync.json").read_text())
        truth = json.loads((Path(demo_root) / session / "truth" / "truth.json").read_text())
        alignment_path = base / "audio_alignment.json"
        alignment = json.loads(alignment_path.read_text()) if alignment_path.exists() else {"devices": {}}
        for device, clock in sync["devices"].items():
            true_offset = truth["devices"][device]["offset_s"]
            residual = alignment["devices"].get(device, {}).get("residual_lag_s")
            rows.append(
                {
                    "session": session,
                    "device": device,
                    "method": clock["method"],
                    "offset_s": clock["offset_s"],
                    "true_offset_s": true_offset,
                    "error_ms": 1000.0 * (clock["offset_s"] - true_offset),
                    "confidence_psr": clock["confidence_psr"],
                    "residual_lag_ms": None if residual is None else 1000.0 * residual,
                }
            )
    return pd.DataFrame(rows)

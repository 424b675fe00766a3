"""A small session with known contents for the explorer tests: an 8-s analysis stream that starts
at session time 0.5 s (source 640x480 shown at 320x240), a gaze track moving along a straight line,
a fixed face box, three utterances, two annotated steps, two methods and one MLLM's windows."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from egoinstruct.media.ffmpeg import ffmpeg_executable
from egoinstruct.report.explorer import DeviceLayers, SessionLayers

SESSION = "t01"
DURATION_S = 9.0
STREAM_T0 = 0.5  # session time of the stream's first frame
SOURCE_SIZE = (640, 480)  # the recording's pixels, where gaze and faces are
STREAM_SIZE = (320, 240)
FACE_BOX = [200.0, 100.0, 300.0, 220.0]
UTTERANCES = [  # t_start, t_end, role, text
    (0.6, 2.4, "instructor", "take the red block"),
    (3.0, 4.2, "learner", "this one"),
    (5.0, 7.5, "instructor", "yes put it on top"),
]
TRUTH_STEPS = [(0.0, 4.0, "pick_block"), (4.0, 9.0, "place_block")]
# method "good" agrees with the truth; "late" switches at 6.0 s: it disagrees from 4.0 to 6.0 s
GRID_S = 0.2


def gaze_u(t: np.ndarray) -> np.ndarray:
    return 100.0 + 40.0 * t


def gaze_v(t: np.ndarray) -> np.ndarray:
    return 300.0 - 10.0 * t


def write_parquet(frame: pd.DataFrame, path: Path, meta: dict[str, str] | None = None) -> Path:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **{k: v for k, v in (meta or {}).items()}})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def make_stream(folder: Path, device: str) -> tuple[Path, Path]:
    """An H.264 stream of 80 frames at 10 fps and its index (session t of each frame)."""
    mp4 = folder / "analysis" / f"{device}.mp4"
    mp4.parent.mkdir(parents=True, exist_ok=True)
    width, height = STREAM_SIZE
    subprocess.run([ffmpeg_executable(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc=size={width}x{height}:rate=10:duration=8", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-g", "20", "-movflags", "+faststart", str(mp4)], check=True)
    t = STREAM_T0 + np.arange(80) / 10
    index = write_parquet(
        pd.DataFrame({"t": t, "frame_index": np.arange(80), "source_time_s": t - STREAM_T0}),
        folder / "analysis" / f"{device}.parquet",
        {"egoinstruct.fps": "10.0", "egoinstruct.width": str(width), "egoinstruct.height": str(height),
         "egoinstruct.source_width": str(SOURCE_SIZE[0]), "egoinstruct.source_height": str(SOURCE_SIZE[1])},
    )
    return mp4, index


def make_session(folder: Path, gaze: bool = True, transcript: bool = True, predictions: bool = True
                 ) -> tuple[SessionLayers, dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """The session's files under ``folder``; returns its layers, evaluation grids and metrics."""
    device = "learner_aria"
    mp4, index = make_stream(folder, device)
    gaze_path = faces_path = None
    if gaze:
        t = np.arange(0, DURATION_S, 1 / 30)
        fixation = np.where(t < 4.5, 0, 1)
        gaze_path = write_parquet(pd.DataFrame({
            "t": t, "u_px": gaze_u(t), "v_px": gaze_v(t), "in_frame": True, "event": "fixation",
            "fixation_id": fixation, "target": np.where(t < 4.5, "partner_face", "workspace"),
        }), folder / "gaze" / f"{device}.parquet",
            {"egoinstruct.camera": json.dumps({"model": "pinhole", "width": SOURCE_SIZE[0], "height": SOURCE_SIZE[1]}),
             "egoinstruct.rate_hz": "30.0"})
        tf = np.round(np.arange(5, 90) / 10, 6)
        faces_path = write_parquet(pd.DataFrame({
            "t": tf, "width": SOURCE_SIZE[0], "height": SOURCE_SIZE[1],
            **{k: v for k, v in zip(("face_x0", "face_y0", "face_x1", "face_y1"), FACE_BOX, strict=True)},
        }), folder / "faces" / f"{device}.parquet")
    sync = folder / "sync" / f"{device}.json"
    sync.parent.mkdir(parents=True, exist_ok=True)
    sync.write_text(json.dumps({"method": "gcc_phat", "offset_s": 0.5, "drift_ppm": 0.0, "confidence_psr": 400.0,
                                "low_confidence": False, "agreement": {"windows": [
                                    {"device_time_s": 3.0, "offset_s": 0.5, "expected_s": 0.5,
                                     "confidence_psr": 300.0, "agrees": True}]}}))
    transcript_path = turns_path = None
    if transcript:
        rows = []
        for t0, t1, role, text in UTTERANCES:
            words = text.split()
            step = (t1 - t0) / len(words)
            rows.append({"t_start": t0, "t_end": t1, "speaker": f"SPEAKER_{role}", "role": role, "text": text,
                         "words": [{"word": w, "t_start": t0 + i * step, "t_end": t0 + (i + 1) * step, "score": 0.9}
                                   for i, w in enumerate(words)]})
        transcript_path = write_parquet(pd.DataFrame(rows), folder / "transcript.parquet")
        turns_path = write_parquet(pd.DataFrame(rows)[["t_start", "t_end", "speaker", "role"]],
                                   folder / "speaker_turns.parquet")
    annotations = write_parquet(pd.DataFrame(
        [{"session": SESSION, "tier": "steps", "t_start": a, "t_end": b, "label": label} for a, b, label in TRUTH_STEPS]),
        folder / "annotations.parquet")
    frames: dict[str, pd.DataFrame] = {}
    metrics: dict[str, pd.DataFrame] = {}
    mllm: dict[tuple[str, str], Path] = {}
    if predictions:
        t = np.round(np.arange(0, DURATION_S, GRID_S), 6)
        truth = np.where(t < 4.0, "pick_block", "place_block")
        late = np.where(t < 6.0, "pick_block", "place_block")
        frames["steps"] = pd.concat([
            pd.DataFrame({"session": SESSION, "t": t, "truth": truth, "method": "good", "fold": 0, "label": truth}),
            pd.DataFrame({"session": SESSION, "t": t, "truth": truth, "method": "late", "fold": 0, "label": late}),
        ], ignore_index=True)
        metrics["steps"] = pd.DataFrame([
            {"task": "steps", "method": "good", "session": SESSION, "fold": 0, "accuracy": 100.0, "macro_f1": 100.0},
            {"task": "steps", "method": "late", "session": SESSION, "fold": 0, "accuracy": 77.8, "macro_f1": 76.9},
        ])
        mllm[("steps", "tiny")] = write_parquet(pd.DataFrame([
            {"window_index": i, "t_start": 4.0 * i, "t_end": 4.0 * i + 8.0, "label": "pick_block",
             "raw_response": f"answer {i}: pick_block", "inputs_used": "transcript,images", "n_frames": 4,
             "n_utterances": 2, "audio_s": 0.0, "outcome": "text"} for i in range(2)]),
            folder / "mllm" / "windows.parquet")
    layers = SessionLayers(
        session=SESSION, duration_s=DURATION_S, procedure="block_assembly",
        devices=[DeviceLayers(device, "learner", mp4, index, gaze_path, faces_path, sync)],
        transcript=transcript_path, turns=turns_path, annotations=annotations, mllm_windows=mllm,
    )
    return layers, frames, metrics

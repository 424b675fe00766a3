"""Face stage: following the partner's face (gaze.faces.redetect_every / lost_every, the defaults)
against searching every frame in full (redetect_every: 1, the reference), on the head cameras'
analysis streams of a finished run, measured in the same process.

Prints per stream and pooled: CPU seconds per frame of each, their ratio, the share of frames
where both agree on whether the partner's face is in view, the IoU of the partner's box where
both see it, and the agreement of the gaze-target labels (partner_face / workspace / other /
unknown) computed from each faces table with the run's own gaze track.

    python bench/bench_faces.py [--results results] [--sessions s01 s02] [--width 480]

On the demo's results the figures are on synthetic video; ``--width`` upscales the stream's
frames first (480: what the stage searches at real camera resolution, where max_width binds).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from egoinstruct.analysis import open_video_input
from egoinstruct.gaze.faces import detect_faces
from egoinstruct.gaze.target import label_targets
from egoinstruct.settings.gaze import FaceSettings, TargetSettings
from egoinstruct.settings.workflow import defaults_for

BOX = ["face_x0", "face_y0", "face_x1", "face_y1"]


def upscale(reader, width: int):
    """``reader`` (a MediaReader) with its frames resized to ``width`` wide: the stage then
    searches at that size."""
    frames = reader.frames

    def resized(threads: int = 1):
        for t, frame in frames(threads):
            yield t, ResizedFrame(frame, width)

    reader.frames = resized
    return reader


class ResizedFrame:
    def __init__(self, frame, width: int) -> None:
        self.frame, self.width = frame, width

    def __getattr__(self, name):
        return getattr(self.frame, name)

    def to_bgr(self) -> np.ndarray:
        image = self.frame.to_bgr()
        height = round(image.shape[0] * self.width / image.shape[1])
        return cv2.resize(image, (self.width, height), interpolation=cv2.INTER_CUBIC)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ix = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = ix * iy
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def run(video, settings: FaceSettings) -> tuple[pd.DataFrame, float]:
    start = time.process_time()
    table = detect_faces(video.reader, video.clock, settings)
    return table, time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--sessions", nargs="*", default=None)
    parser.add_argument("--width", type=int, default=None, help="upscale the stream's frames to this width")
    args = parser.parse_args()
    followed = defaults_for(FaceSettings)
    reference = dataclasses.replace(followed, redetect_every=1)
    target_settings = defaults_for(TargetSettings)
    sessions = args.sessions or sorted(p.name for p in (args.results / "sessions").iterdir() if p.is_dir())
    print(f"followed: redetect_every {followed.redetect_every}, lost_every {followed.lost_every}; reference: every "
          f"frame in full; detector {followed.detector}, max_width {followed.max_width}"
          + (f"; frames upscaled to {args.width} px wide" if args.width else ""))
    print(f"{'stream':<28}{'frames':>7}{'ref ms':>8}{'new ms':>8}{'ratio':>7}{'same face':>10}"
          f"{'IoU med':>9}{'IoU p5':>8}{'targets':>9}")
    pooled = {"frames": 0, "ref": 0.0, "new": 0.0, "same": 0, "ious": [], "labels": 0, "agree": 0}
    for session in sessions:
        base = args.results / "sessions" / session
        for gaze_path in sorted((base / "gaze").glob("*.parquet")):
            device = gaze_path.stem
            stream = base / "analysis" / f"{device}.mp4"
            if not stream.is_file():
                continue
            tables = []
            for settings in (reference, followed):
                video = open_video_input([str(stream)], base / "sync.json", device, base / "analysis" / f"{device}.parquet")
                if args.width:
                    upscale(video.reader, args.width)
                tables.append(run(video, settings))
            (ref, ref_s), (new, new_s) = tables
            a, b = ref[BOX].to_numpy(), new[BOX].to_numpy()
            seen_a, seen_b = np.isfinite(a).all(axis=1), np.isfinite(b).all(axis=1)
            both = seen_a & seen_b
            overlap = iou(a[both], b[both])
            gaze = pd.read_parquet(gaze_path)
            labels_a = label_targets(gaze, ref, target_settings)
            labels_b = label_targets(gaze, new, target_settings)
            agree = int((labels_a == labels_b).sum())
            n = len(ref)
            print(f"{session + ' ' + device:<28}{n:>7}{1000 * ref_s / n:>8.1f}{1000 * new_s / n:>8.1f}"
                  f"{new_s / ref_s:>7.2f}{(seen_a == seen_b).mean():>10.3f}"
                  f"{(np.median(overlap) if len(overlap) else float('nan')):>9.3f}"
                  f"{(np.percentile(overlap, 5) if len(overlap) else float('nan')):>8.3f}{agree / len(gaze):>9.3f}")
            pooled["frames"] += n
            pooled["ref"] += ref_s
            pooled["new"] += new_s
            pooled["same"] += int((seen_a == seen_b).sum())
            pooled["ious"] += overlap.tolist()
            pooled["labels"] += len(gaze)
            pooled["agree"] += agree
    if not pooled["frames"]:
        raise SystemExit(f"{args.results}: no head camera with gaze and an analysis stream")
    ious = np.asarray(pooled["ious"])
    print(json.dumps({
        "frames": pooled["frames"], "cpu_ratio": round(pooled["new"] / pooled["ref"], 3),
        "ref_ms_per_frame": round(1000 * pooled["ref"] / pooled["frames"], 2),
        "new_ms_per_frame": round(1000 * pooled["new"] / pooled["frames"], 2),
        "same_face_presence": round(pooled["same"] / pooled["frames"], 4),
        "iou_median": round(float(np.median(ious)), 3), "iou_p5": round(float(np.percentile(ious, 5)), 3),
        "gaze_target_agreement": round(pooled["agree"] / pooled["labels"], 4),
    }))


if __name__ == "__main__":
    main()

"""The analysis stream against decoding the recording: how far the video stages' outputs move.

For each real recording in the shared fixtures (a GoPro HERO5 MP4, 854×480 at 29.97 fps; an
Aria Gen 1 VRS, 1408×1408), on the device's own clock (offset 0), runs each stage that reads a
video twice — on the recording itself (``analysis.enabled: false``, as before the stream) and on
its analysis stream at the configured width, rate and CRF — and prints:

* frames: whether the rows are the same session instants and source frames, and the mean
  absolute pixel difference (0–255) of the stream's JPEG against the recording's frame scaled
  to the same size (OpenCV); beside it, as yardsticks, what the frames table's own JPEG encoding
  (``frames.jpeg_quality``) changes on that frame, and what swscale's scaling through yuv420p
  (the stream's, without the codec) changes against OpenCV's;
* visual features: cosine similarity of each frame's embedding (stream vs recording), and as
  yardsticks the same between the recording's frame and its JPEG copy, the frame scaled to the
  stream's size through yuv420p without the codec, and the next frame;
* faces: frames where both or neither find a face, and the IoU of the partner's box where both do;
* head motion: median absolute difference of the image flow (px/s, recording pixels) and, with a
  camera model, of the angular speed (deg/s);
* the decode time of the recording (once, for the stream) and of the stream (per stage).

Options: --width, --fps, --crf (default: the configuration's analysis stream).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

from egoinstruct.analysis import AnalysisReader, write_analysis_stream
from egoinstruct.clock import DeviceClock
from egoinstruct.frames import extract_frames, session_frames
from egoinstruct.gaze.faces import detect_faces
from egoinstruct.media.probe import probe_media
from egoinstruct.media.reader import open_recording
from egoinstruct.paths import REPO_ROOT
from egoinstruct.settings.gaze import FaceSettings
from egoinstruct.settings.ingest import FrameSettings
from egoinstruct.settings.visual import HeadMotionSettings
from egoinstruct.settings.workflow import analysis_stream, default_settings, defaults_for
from egoinstruct.tables import read_table
from egoinstruct.visual.features import extract_features, load_backbone, read_embeddings
from egoinstruct.visual.motion import video_head_motion

FIXTURES = REPO_ROOT.parent / "shared" / "fixtures" / "real"
RECORDINGS = {"GoPro HERO5 (854x480, 29.97 fps)": FIXTURES / "gopro" / "karma.mp4",
              "Aria Gen 1 VRS (1408x1408)": FIXTURES / "aria" / "gen1_aea" / "recording.vrs"}


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x0, y0 = np.maximum(a[:, 0], b[:, 0]), np.maximum(a[:, 1], b[:, 1])
    x1, y1 = np.minimum(a[:, 2], b[:, 2]), np.minimum(a[:, 3], b[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda box: (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def _stat(values: np.ndarray) -> str:
    return f"{np.median(values):.4f} ({values.min():.4f})" if len(values) else "n/a"


def _scaled_yuv(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """What the stream's scaling and pixel format alone do to a frame (no H.264)."""
    frame = av.VideoFrame.from_ndarray(image, format="bgr24")
    return frame.reformat(width=size[0], height=size[1], format="yuv420p", interpolation="AREA").to_ndarray(format="bgr24")


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    assert ok
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def compare(name: str, path: Path, stream: dict, work: Path) -> None:
    duration = float(probe_media(path)["duration_s"])
    clock = DeviceClock("d", 0.0, 0.0, duration)
    reader = open_recording(path)
    camera = reader.camera()
    start = time.perf_counter()
    n = write_analysis_stream(reader, work / "a.mp4", work / "a.parquet", clock, stream["fps"], stream["width"],
                              stream["crf"], stream["preset"])
    encode_s = time.perf_counter() - start
    via = AnalysisReader(work / "a.mp4", work / "a.parquet")
    size = next(session_frames(via, via.clock, stream["fps"])).frame
    print(f"\n{name}: {path.name}, {duration:.1f} s; stream {n} frames at {stream['fps']:g} fps, "
          f"{size.width}x{size.height}, CRF {stream['crf']} ({(work / 'a.mp4').stat().st_size / 1e6:.2f} MB), "
          f"decoded and encoded in {encode_s:.1f} s")
    start = time.perf_counter()
    sum(1 for _ in via.frames())
    print(f"  decoding the stream: {time.perf_counter() - start:.2f} s")

    settings = default_settings()
    frames = defaults_for(FrameSettings, width=size.width, height=size.height)
    extract_frames(reader, work / "direct.parquet", clock, frames)
    extract_frames(via, work / "via.parquet", via.clock, frames)
    direct_rows = read_table(work / "direct.parquet", "frames").to_pandas()
    via_rows = read_table(work / "via.parquet", "frames").to_pandas()
    same = (direct_rows[["t", "frame_index", "source_time_s"]].to_numpy().tolist()
            == via_rows[["t", "frame_index", "source_time_s"]].to_numpy().tolist())
    decode = lambda b: cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR).astype(int)  # noqa: E731
    # the recording's frames decoded once: full size, and scaled as SessionFrame.image does (INTER_AREA)
    full_frames = [f.image() for f in session_frames(reader, clock, frames.fps)]
    recorded = [cv2.resize(f, (size.width, size.height), interpolation=cv2.INTER_AREA) for f in full_frames]
    stream_diff = [np.abs(decode(b) - r.astype(int)).mean() for b, r in zip(via_rows.jpeg, recorded, strict=True)]
    jpeg_diff = [np.abs(_jpeg(r, frames.jpeg_quality).astype(int) - r.astype(int)).mean() for r in recorded]
    scale_diff = [np.abs(_scaled_yuv(f, (size.width, size.height)).astype(int) - r.astype(int)).mean()
                  for f, r in zip(full_frames, recorded, strict=True)]
    print(f"  frames: {len(via_rows)} rows, same instants and source frames: {same}; mean |pixel difference| "
          f"(0-255) stream JPEG vs the recording's frame scaled by OpenCV {np.mean(stream_diff):.2f} (max "
          f"{np.max(stream_diff):.2f}); yardsticks: the JPEG alone (quality {frames.jpeg_quality}) "
          f"{np.mean(jpeg_diff):.2f}, swscale's scaling and yuv420p instead of OpenCV's (no codec) {np.mean(scale_diff):.2f}")

    features = settings.features
    backbone = load_backbone(features)
    extract_features(reader, work / "vd.parquet", clock, features, backbone=backbone)
    extract_features(via, work / "vv.parquet", via.clock, features, backbone=backbone)
    _, direct_emb = read_embeddings(work / "vd.parquet")
    _, via_emb = read_embeddings(work / "vv.parquet")
    full = [f.image() for f in session_frames(reader, clock, features.fps)]
    pre = backbone.preprocessing
    jpeg_emb = backbone.embed(np.stack([pre(_jpeg(im, frames.jpeg_quality)) for im in full]))
    scaled_emb = backbone.embed(np.stack([pre(_scaled_yuv(im, (size.width, size.height))) for im in full]))
    cos = _cosine(direct_emb, via_emb)
    print(f"  visual features ({features.fps:g} fps), cosine to the recording's, median (min): stream "
          f"{_stat(cos)}; yardsticks: its JPEG copy {_stat(_cosine(direct_emb, jpeg_emb))}, scaled to the stream's "
          f"size and back through yuv420p without the codec {_stat(_cosine(direct_emb, scaled_emb))}, the next "
          f"frame ({1 / features.fps:g} s later) {_stat(_cosine(direct_emb[:-1], direct_emb[1:]))}")

    faces = defaults_for(FaceSettings)
    fd, fv = detect_faces(reader, clock, faces), detect_faces(via, via.clock, faces)
    boxes = ["face_x0", "face_y0", "face_x1", "face_y1"]
    found_d, found_v = fd.face_x0.notna().to_numpy(), fv.face_x0.notna().to_numpy()
    both = found_d & found_v
    iou = _iou(fd.loc[both, boxes].to_numpy(), fv.loc[both, boxes].to_numpy()) if both.any() else np.array([])
    print(f"  faces ({faces.fps:g} fps, {len(fd)} frames): a face in {found_d.sum()} (recording) / {found_v.sum()} "
          f"(stream); agree on {np.mean(found_d == found_v):.1%} of frames; partner-box IoU "
          + (f"median {np.median(iou):.3f} (min {iou.min():.3f})" if len(iou) else "n/a (no frame with a face in both)"))

    motion = defaults_for(HeadMotionSettings)
    md = video_head_motion(reader, clock, motion, camera=camera)
    mv = video_head_motion(via, via.clock, motion, camera=camera)
    flow = np.nanmedian(np.abs(md.flow_speed_px_s - mv.flow_speed_px_s))
    line = (f"  head motion ({motion.fps:g} fps): median |flow speed difference| {flow:.2f} px/s "
            f"(median flow speed {np.nanmedian(md.flow_speed_px_s):.1f} px/s)")
    if camera is not None:
        angular = np.nanmedian(np.abs(md.angular_speed_deg_s - mv.angular_speed_deg_s))
        line += (f"; median |angular speed difference| {angular:.2f} deg/s "
                 f"(median {np.nanmedian(md.angular_speed_deg_s):.1f} deg/s)")
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--fps", type=float, default=None)
    parser.add_argument("--crf", type=int, default=None)
    args = parser.parse_args()
    stream = analysis_stream(default_settings())
    stream.update({k: v for k, v in (("width", args.width), ("fps", args.fps), ("crf", args.crf)) if v})
    found = {name: path for name, path in RECORDINGS.items() if path.exists()}
    if not found:
        message = f"no real recordings in {FIXTURES}"
        sys.exit(message) if os.environ.get("CI") else print(f"skipped: {message}")
        return
    for name, path in found.items():
        with tempfile.TemporaryDirectory(prefix="bench_analysis_") as work:
            compare(name, path, stream, Path(work))


if __name__ == "__main__":
    main()

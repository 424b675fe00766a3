"""Faces in a head camera's video, per frame on the session clock, with detectors that run offline.

Job: find the partner's face in the frames of one device, so gaze can be labelled as on the
partner's face or not (:mod:`egoinstruct.gaze.target`).

Detectors (``gaze.faces.detector``):

* ``haar`` (default): OpenCV's Haar frontal-face cascade
  (``haarcascade_frontalface_default.xml``, shipped in ``cv2.data.haarcascades``). Needs
  OpenCV 4 (OpenCV 5 dropped ``CascadeClassifier``, which is why the project pins 4.x). The score of
  a box is its number of neighbouring detections.
* ``yunet``: OpenCV's DNN face detector ``cv2.FaceDetectorYN`` with YuNet weights
  (``face_detection_yunet_2023mar.onnx`` from the OpenCV model zoo) at ``gaze.faces.model``.
  Missing weights are a :class:`MissingModelError` that says where to put them.

Frames are downscaled to at most ``max_width`` pixels wide before detection (boxes are returned in
the video's own pixels); boxes narrower than ``min_size_frac`` of the frame width are ignored
(the partner across the table is never that small; hands and paper folds sometimes are).
The partner is the largest remaining face: in a two-person session the only other face in view.

Searching every frame in full is the stage's whole cost (Haar: tens of ms per frame), and the
partner's face moves little from one frame to the next. So, as face trackers do, once a face is
found the next frames are searched only near it (``near_search``: a region of the box grown by
half its size on each side, for faces 0.7–1.4 × its width), and the whole frame again every
``redetect_every`` frames (a new, larger face) or at once when the face is not found near its last
place. While no face is in view, the whole frame is searched every ``lost_every`` frames (the
frames between have no face: a face that comes into view is found up to ``lost_every - 1`` frames
late). ``redetect_every: 1`` searches every frame in full. The ``search`` column says which search
each row had: ``full``, ``near`` or ``none``.

Output rows: one per session time ``k / fps`` inside the session and the device's video
(:func:`egoinstruct.frames.session_frames`), with every detection and the chosen partner box.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import pandas as pd

from egoinstruct.clock import DeviceClock
from egoinstruct.errors import InputError, MissingModelError
from egoinstruct.frames import MediaSource, session_frames
from egoinstruct.media.reader import MediaReader, open_recording
from egoinstruct.settings.gaze import FaceSettings

log = logging.getLogger(__name__)

DETECTORS = ("haar", "yunet")
# Near search: the region is the last box grown by this share of its size on each side, and a
# face there may be this much smaller or larger than the last one.
NEAR_MARGIN = 0.5
NEAR_SIZE = (0.7, 1.4)


class FaceDetector(Protocol):
    name: str

    def detect(self, image_bgr: np.ndarray, size_px: tuple[int, int] | None = None) -> np.ndarray:
        """Boxes ``[N, 5]``: x0, y0, x1, y1 (pixels of ``image_bgr``) and a score; ``size_px``:
        only faces of that (min, max) width, else the settings' minimum share of the width."""
        ...


class HaarFaceDetector:
    name = "haar"

    def __init__(self, settings: FaceSettings) -> None:
        if not hasattr(cv2, "CascadeClassifier"):
            raise MissingModelError(
                f"OpenCV {cv2.__version__} has no CascadeClassifier (OpenCV 5 removed it); install "
                "the pinned opencv-python-headless 4.x (requirements/lock.txt) or set "
                "gaze.faces.detector: yunet with gaze.faces.model pointing at YuNet ONNX weights"
            )
        path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise MissingModelError(
                f"{path}: OpenCV's Haar face cascade is missing or unreadable; reinstall "
                "opencv-python-headless 4.x, which ships it in cv2.data.haarcascades"
            )
        self.settings = settings

    def detect(self, image_bgr: np.ndarray, size_px: tuple[int, int] | None = None) -> np.ndarray:
        s = self.settings
        gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        if size_px is None:
            min_size, max_size = max(8, int(round(s.min_size_frac * gray.shape[1]))), 0  # 0: no maximum
        else:
            min_size, max_size = max(8, size_px[0]), size_px[1]
        boxes, neighbours = self.cascade.detectMultiScale2(
            gray, scaleFactor=s.scale_factor, minNeighbors=s.min_neighbors, minSize=(min_size, min_size),
            maxSize=(max_size, max_size),
        )
        if len(boxes) == 0:
            return np.empty((0, 5), dtype=np.float32)
        b = np.asarray(boxes, dtype=np.float32)
        return np.column_stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3],
                                np.asarray(neighbours, dtype=np.float32).reshape(-1)])


class YuNetFaceDetector:
    name = "yunet"

    def __init__(self, settings: FaceSettings) -> None:
        if not settings.model:
            raise MissingModelError(
                "gaze.faces.detector is yunet but gaze.faces.model is not set; download "
                "face_detection_yunet_2023mar.onnx from the OpenCV model zoo "
                "(github.com/opencv/opencv_zoo, models/face_detection_yunet) and set its path, or "
                "use detector: haar"
            )
        path = Path(settings.model)
        if not path.is_file():
            raise MissingModelError(
                f"{path}: YuNet face-detector weights not found (gaze.faces.model); download "
                "face_detection_yunet_2023mar.onnx from the OpenCV model zoo to that path, or use "
                "detector: haar"
            )
        if not hasattr(cv2, "FaceDetectorYN"):
            raise MissingModelError(f"OpenCV {cv2.__version__} has no FaceDetectorYN; use detector: haar")
        self.model = cv2.FaceDetectorYN.create(str(path), "", (320, 320), settings.score_threshold)
        self.settings = settings

    def detect(self, image_bgr: np.ndarray, size_px: tuple[int, int] | None = None) -> np.ndarray:
        h, w = image_bgr.shape[:2]
        self.model.setInputSize((w, h))
        _, faces = self.model.detect(image_bgr)
        if faces is None or len(faces) == 0:
            return np.empty((0, 5), dtype=np.float32)
        f = np.asarray(faces, dtype=np.float32)
        boxes = np.column_stack([f[:, 0], f[:, 1], f[:, 0] + f[:, 2], f[:, 1] + f[:, 3], f[:, -1]])
        low, high = size_px if size_px is not None else (self.settings.min_size_frac * w, np.inf)
        return boxes[(f[:, 2] >= low) & (f[:, 2] <= high)]


def make_detector(settings: FaceSettings) -> FaceDetector:
    if settings.detector == "haar":
        return HaarFaceDetector(settings)
    if settings.detector == "yunet":
        return YuNetFaceDetector(settings)
    raise InputError(f"gaze.faces.detector = {settings.detector!r}; expected one of {', '.join(DETECTORS)}")


def _detect_at_scale(detector: FaceDetector, image_bgr: np.ndarray, scale: float,
                     size_px: tuple[int, int] | None = None) -> np.ndarray:
    """Detections on ``image_bgr`` resized by ``scale`` (<= 1), in ``image_bgr``'s pixels."""
    h, w = image_bgr.shape[:2]
    small = image_bgr if scale == 1.0 else cv2.resize(
        image_bgr, (max(1, int(round(w * scale))), max(1, int(round(h * scale)))), interpolation=cv2.INTER_AREA
    )
    boxes = detector.detect(small, size_px)
    if scale != 1.0 and len(boxes):
        boxes = boxes.copy()
        boxes[:, :4] /= scale
    return boxes


def detect_scaled(detector: FaceDetector, image_bgr: np.ndarray, max_width: int) -> np.ndarray:
    """Detections on ``image_bgr`` downscaled to at most ``max_width`` wide, in its own pixels."""
    return _detect_at_scale(detector, image_bgr, min(1.0, max_width / image_bgr.shape[1]))


def near_search(detector: FaceDetector, image_bgr: np.ndarray, max_width: int, last: np.ndarray) -> np.ndarray:
    """Detections near the last partner box ``last`` (x0, y0, x1, y1 in ``image_bgr``'s pixels),
    at the scale of a full search (:func:`detect_scaled`), in ``image_bgr``'s pixels."""
    h, w = image_bgr.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in last)
    bw, bh = x1 - x0, y1 - y0
    left, top = max(0, int(x0 - NEAR_MARGIN * bw)), max(0, int(y0 - NEAR_MARGIN * bh))
    right, bottom = min(w, int(np.ceil(x1 + NEAR_MARGIN * bw))), min(h, int(np.ceil(y1 + NEAR_MARGIN * bh)))
    if right - left < 8 or bottom - top < 8:
        return np.empty((0, 5), dtype=np.float32)
    scale = min(1.0, max_width / w)  # the full search's: faces look the same size to the detector
    size = (int(NEAR_SIZE[0] * bw * scale), int(np.ceil(NEAR_SIZE[1] * bw * scale)) + 1)
    boxes = _detect_at_scale(detector, image_bgr[top:bottom, left:right], scale, size)
    if len(boxes):
        boxes = boxes.copy()
        boxes[:, [0, 2]] += left
        boxes[:, [1, 3]] += top
    return boxes


def partner_box(boxes: np.ndarray) -> np.ndarray:
    """The partner's face among detections ``[N, 5]``: the largest box (NaN ×4 if none)."""
    if len(boxes) == 0:
        return np.full(4, np.nan)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return boxes[int(np.argmax(area)), :4].astype(np.float64)


def detect_faces(
    video: MediaSource,
    clock: DeviceClock,
    settings: FaceSettings,
    threads: int = 1,
    detector: FaceDetector | None = None,
) -> pd.DataFrame:
    """One row per session frame at ``settings.fps``: t, frame_index, source_time_s, width,
    height, n_faces, boxes (list of [x0, y0, x1, y1, score]), face_x0…face_y1 (partner)."""
    detector = detector or make_detector(settings)
    cv2.setNumThreads(max(1, threads))
    rows: dict[str, list] = {k: [] for k in (
        "t", "frame_index", "source_time_s", "width", "height", "n_faces", "boxes",
        "face_x0", "face_y0", "face_x1", "face_y1", "search")}
    reader = video if isinstance(video, MediaReader) else open_recording(video)
    last: np.ndarray | None = None  # the partner's box in the previous frame (image pixels)
    last_full = -(10**9)  # frame number of the last full search
    for i, chosen in enumerate(session_frames(reader, clock, settings.fps, threads)):
        image = chosen.image()
        search = "none"
        boxes = np.empty((0, 5), dtype=np.float32)
        if last is not None and i - last_full < settings.redetect_every:
            boxes, search = near_search(detector, image, settings.max_width, last), "near"
        if not len(boxes) and (last is not None or i - last_full >= settings.lost_every):
            boxes, search, last_full = detect_scaled(detector, image, settings.max_width), "full", i
        last = partner_box(boxes) if len(boxes) else None
        width, height = chosen.source_size  # boxes in the recording's pixels, where gaze is projected
        if (width, height) != (image.shape[1], image.shape[0]):
            boxes[:, :4] *= np.array([width / image.shape[1], height / image.shape[0]] * 2)
        partner = partner_box(boxes)
        rows["t"].append(chosen.t)
        rows["frame_index"].append(chosen.index)
        rows["source_time_s"].append(chosen.source_time_s)
        rows["width"].append(width)
        rows["height"].append(height)
        rows["n_faces"].append(len(boxes))
        rows["boxes"].append([[float(v) for v in b] for b in boxes])
        for name, value in zip(("face_x0", "face_y0", "face_x1", "face_y1"), partner, strict=True):
            rows[name].append(float(value))
        rows["search"].append(search)
        if (i + 1) % 1000 == 0:
            log.info("%s: %d frames, session time %.0f / %.0f s", reader.name, i + 1, chosen.t,
                     clock.session_duration_s)
    if not rows["t"]:
        raise clock.no_overlap(reader.name)
    table = pd.DataFrame(rows)
    searches = table.search.value_counts()
    log.info("%s: %d frames, a face in %.1f%% (detector %s); searched in full %d, near the last face %d, "
             "not at all %d", reader.name, len(table), 100.0 * float((table.n_faces > 0).mean()), detector.name,
             searches.get("full", 0), searches.get("near", 0), searches.get("none", 0))
    return table

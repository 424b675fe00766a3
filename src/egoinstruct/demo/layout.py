"""Fixed geometry of the demo scene shared by the kinematics (world) and the renderer (scene).

Contract
--------
Everything is in *reference pixels* of a 320×240 frame; :func:`frame_scale` maps to the
configured frame size. Table coordinates are metres on the table top: origin at the workspace
centre, +x to the instructor's right, +y from the instructor towards the learner.

A head camera is modelled as a 320×240 viewport sliding over a tall 2-D *canvas* per wearer:
the partner (face, shoulders) at the top, the table below. Looking at the partner puts the
viewport at :data:`VIEW_FACE`, looking at the workspace at :data:`VIEW_WORK`; the head pans
smoothly between them. The exo camera is a static wide shot with the table mapped by a
homography.
"""

from __future__ import annotations

import numpy as np

from egoinstruct.camera import CameraModel

REF_W, REF_H = 320, 240

# -- head-camera canvas --------------------------------------------------------------------------
CANVAS_W, CANVAS_H = 480, 720
TABLE_PX_PER_M = 540.0  # table scale in the canvas (≈ f / 0.46 m viewing distance)
TABLE_ORIGIN = (240.0, 500.0)  # canvas pixel of the table origin
TABLE_FAR_EDGE_Y = 311.0  # canvas row where the far table edge meets the partner / wall

VIEW_FACE = np.array([80.0, 55.0])  # viewport top-left when looking at the partner
VIEW_WORK = np.array([80.0, 375.0])  # viewport top-left when looking at the workspace

FACE_CENTER = np.array([240.0, 150.0])  # partner face centre in the canvas (at rest)
FACE_RX, FACE_RY = 27.0, 35.0  # partner face ellipse half-axes (canvas px)
# feature offsets from the face centre, in units of (FACE_RX, FACE_RY)
FACE_FEATURES = {
    "left_eye": (-0.40, -0.08),
    "right_eye": (0.40, -0.08),
    "nose": (0.0, 0.22),
    "mouth": (0.0, 0.52),
}
LOOK_DOWN_SHIFT = 4.0  # canvas px the partner's face moves down when they look at the table
PARTNER_SHOULDERS = ((165.0, 232.0), (315.0, 232.0))  # canvas px (image left, image right)
OWN_ARM_ORIGIN_X = (120.0, 360.0)  # own arms enter from below the canvas at these columns
OWN_ARM_ORIGIN_Y = 820.0

# Gaze depth (metres from the CPF) by what is looked at.
DEPTH_FACE_M = 1.0
DEPTH_WORK_M = 0.45
DEPTH_WALL_M = 2.0
DEPTH_TABLE_ITEM_M = 0.55

# Canvas points that are neither face nor workspace (glances), with their depth.
WALL_ANCHORS = ((110.0, 80.0), (385.0, 95.0), (300.0, 40.0))
TABLE_ITEM_ANCHORS_M = ((0.40, 0.10), (-0.40, -0.12))  # mug, notebook (table coords)

# -- people --------------------------------------------------------------------------------------
# Table coordinates of each person's shoulders and hand rest positions; "right"/"left" are the
# person's own hands. The instructor faces +y, the learner -y.
FACING = {"instructor": 1.0, "learner": -1.0}
REST_HANDS_M = {
    "instructor": {"right": (0.13, -0.27), "left": (-0.13, -0.27)},
    "learner": {"right": (-0.13, 0.27), "left": (0.13, 0.27)},
}

# -- exo camera ----------------------------------------------------------------------------------
EXO_TABLE_PX_PER_M = 250.0
EXO_TABLE_X_M = (-0.6, 0.6)  # depth direction in the exo view (far → near)
EXO_TABLE_Y_M = (-0.35, 0.35)  # left (instructor) → right (learner)
# frame corners of the table top: far-left, far-right, near-right, near-left (reference px)
EXO_TABLE_QUAD = np.array([[78.0, 138.0], [242.0, 138.0], [305.0, 222.0], [15.0, 222.0]])
EXO_PEOPLE = {  # head centre and face half-axes in the exo frame; +1 faces right
    "instructor": {"head": (38.0, 82.0), "rx": 11.0, "ry": 14.0, "facing": 1.0},
    "learner": {"head": (282.0, 82.0), "rx": 11.0, "ry": 14.0, "facing": -1.0},
}
EXO_SHOULDERS = {"instructor": (52.0, 118.0), "learner": (268.0, 118.0)}


def frame_scale(width: int) -> float:
    """Output pixels per reference pixel."""
    return width / REF_W


def table_to_canvas_matrix(wearer: str) -> np.ndarray:
    """2×3 affine from table metres to canvas pixels of ``wearer``'s head camera (the learner
    sits opposite, so their view is the instructor's turned by 180°)."""
    s = TABLE_PX_PER_M * FACING[wearer]
    ox, oy = TABLE_ORIGIN
    return np.array([[s, 0.0, ox], [0.0, -s, oy]])


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return p @ matrix[:, :2].T + matrix[:, 2]


def exo_table_image_matrix() -> np.ndarray:
    """2×3 affine from table metres to the exo table image (columns: y, rows: x)."""
    s = EXO_TABLE_PX_PER_M
    return np.array([[0.0, s, -EXO_TABLE_Y_M[0] * s], [s, 0.0, -EXO_TABLE_X_M[0] * s]])


def exo_table_image_size() -> tuple[int, int]:
    """(width, height) of the exo table image."""
    s = EXO_TABLE_PX_PER_M
    return (
        int(round((EXO_TABLE_Y_M[1] - EXO_TABLE_Y_M[0]) * s)),
        int(round((EXO_TABLE_X_M[1] - EXO_TABLE_X_M[0]) * s)),
    )


def exo_homography() -> np.ndarray:
    """3×3 homography from the exo table image to the exo frame (reference px)."""
    import cv2

    w, h = exo_table_image_size()
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    return cv2.getPerspectiveTransform(src, EXO_TABLE_QUAD.astype(np.float32))


def head_camera(width: int, height: int, rng: np.random.Generator) -> CameraModel:
    """Pinhole calibration of a demo head camera, with small per-device differences.

    Rotation diag(-1, -1, 1) turns the CPF (x left, y up, z forward) into the camera frame
    (x right, y down); the camera sits a few cm to the side of and above the eyes.
    """
    k = frame_scale(width)
    f = float(250.0 + rng.uniform(-3.0, 3.0)) * k
    T = np.eye(4)
    T[:3, :3] = np.diag([-1.0, -1.0, 1.0])
    T[:3, 3] = [0.04 + rng.uniform(-0.003, 0.003), -0.02 + rng.uniform(-0.003, 0.003), 0.0]
    cx = width / 2.0 + float(rng.uniform(-1.0, 1.0))
    cy = height / 2.0 + float(rng.uniform(-1.0, 1.0))
    return CameraModel(
        model="pinhole", width=width, height=height, params=(f, f, cx, cy), T_camera_cpf=T
    )

"""Rendering of the demo videos with numpy/OpenCV: two head cameras and a static exo camera.

Contract
--------
:class:`SceneRenderer` draws, for a session time ``t``, what :class:`~egoinstruct.demo.world.World`
says is there: :meth:`SceneRenderer.head_frame` for a wearer's head camera and
:meth:`SceneRenderer.exo_frame` for the GoPro, both BGR uint8 at the configured frame size.
Nothing here decides where anything is; it only draws.

Appearance: a wood table (same texture in every view, with a mug, a notebook and a ruler as
static detail), a decorated wall, the partner's torso and a shaded face with eyes, eyebrows,
nose shadow, hair and a mouth that opens with their speech, blinking and looking down while
they work; skin-coloured hands on sleeved arms; the procedure's parts; per-camera vignetting and
sensor noise. Face images are cached sprites (rendered at 4× and downsampled) because they are
the most detailed thing drawn each frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from egoinstruct.demo import layout as L
from egoinstruct.demo.parts import Shape
from egoinstruct.demo.script import INSTRUCTOR, LEARNER
from egoinstruct.demo.world import PARTNER, World

_SHIFT = 4  # fractional bits for cv2 drawing (sub-pixel positions)
_ONE = 1 << _SHIFT


@dataclass(frozen=True)
class PersonStyle:
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    shirt: tuple[int, int, int]
    long_hair: bool


STYLES = {
    INSTRUCTOR: PersonStyle(
        skin=(128, 160, 205), hair=(30, 38, 52), shirt=(95, 55, 35), long_hair=False
    ),
    LEARNER: PersonStyle(
        skin=(150, 182, 226), hair=(20, 22, 28), shirt=(70, 70, 165), long_hair=True
    ),
}


def _fx(points: np.ndarray) -> np.ndarray:
    """Float pixel coordinates → fixed point int32 for cv2 drawing with ``shift``."""
    return np.round(np.asarray(points) * _ONE).astype(np.int32)


def _c(color: tuple[float, ...] | np.ndarray) -> tuple[float, float, float]:
    c = np.asarray(color, dtype=np.float64)
    return (float(c[0]), float(c[1]), float(c[2]))


# -- face sprites --------------------------------------------------------------------------------


class FaceSprites:
    """Cached face images (BGR + alpha) for one person at one size."""

    LEVELS = 6  # mouth openness steps

    def __init__(self, style: PersonStyle, rx: float, ry: float, facing: float = 0.0) -> None:
        self.style, self.rx, self.ry, self.facing = style, rx, ry, facing
        self._cache: dict[tuple[int, bool, bool], tuple[np.ndarray, np.ndarray]] = {}
        self.width, self.height = int(np.ceil(rx * 3.0)), int(np.ceil(ry * 3.3))
        self.center = np.array([self.width / 2.0, self.height * 0.40])  # face centre in the sprite

    def get(self, mouth: float, blink: bool, look_down: bool) -> tuple[np.ndarray, np.ndarray]:
        key = (int(round(np.clip(mouth, 0, 1) * (self.LEVELS - 1))), blink, look_down)
        if key not in self._cache:
            self._cache[key] = self._render(key[0] / (self.LEVELS - 1), blink, look_down)
        return self._cache[key]

    def _render(self, mouth: float, blink: bool, look_down: bool) -> tuple[np.ndarray, np.ndarray]:
        S = 4  # supersampling
        W, H = self.width * S, self.height * S
        img = np.zeros((H, W, 3), np.float32)
        alpha = np.zeros((H, W), np.float32)
        cx, cy = self.center[0] * S, self.center[1] * S
        RX, RY = self.rx * S, self.ry * S
        st = self.style
        skin = np.array(st.skin, np.float32)
        turn = self.facing * 0.22 * RX  # features shift towards where a 3/4 face looks

        def ell(
            c: tuple[float, float],
            axes: tuple[float, float],
            color: np.ndarray | tuple,
            a: float | None = None,
            start: int = 0,
            end: int = 360,
            thickness: int = -1,
        ) -> None:
            center = (int(c[0]), int(c[1]))
            ax = (max(int(axes[0]), 1), max(int(axes[1]), 1))
            cv2.ellipse(img, center, ax, 0, start, end, _c(color), thickness, cv2.LINE_AA)
            if a is not None:
                cv2.ellipse(alpha, center, ax, 0, start, end, a, thickness, cv2.LINE_AA)

        # neck, then hair behind the head
        neck = (int(cx - RX * 0.42), int(cy + RY * 0.55), int(cx + RX * 0.42), H)
        cv2.rectangle(img, neck[:2], neck[2:], _c(skin * 0.78), -1)
        cv2.rectangle(alpha, neck[:2], neck[2:], 1.0, -1)
        if st.long_hair:
            cv2.rectangle(
                img,
                (int(cx - RX * 1.15), int(cy - RY * 0.2)),
                (int(cx + RX * 1.15), int(cy + RY * 1.05)),
                _c(st.hair),
                -1,
            )
            cv2.rectangle(
                alpha,
                (int(cx - RX * 1.15), int(cy - RY * 0.2)),
                (int(cx + RX * 1.15), int(cy + RY * 1.05)),
                1.0,
                -1,
            )
        ell((cx, cy - RY * 0.12), (RX * 1.13, RY * 1.03), st.hair, 1.0)
        for side in (-1, 1):
            if self.facing * side > 0.5:
                continue  # the far ear is hidden in a 3/4 view
            ell(
                (cx + side * RX * 0.98 + turn * 0.3, cy + RY * 0.03),
                (RX * 0.16, RY * 0.22),
                skin * 0.85,
                1.0,
            )
        # skin: concentric ellipses, darker at the rim, like a lit rounded face
        for k in range(12):
            f = 1.0 - k / 12.0
            ell(
                (cx + turn * 0.15 * (1 - f), cy + RY * 0.04 * (1 - f)),
                (RX * f, RY * f),
                skin * (0.70 + 0.30 * k / 11),
                1.0,
            )
        # fringe
        ell((cx, cy - RY * 0.72), (RX * 1.03, RY * 0.42), st.hair, 1.0, 180, 360)
        ey = cy - RY * 0.08 + (RY * 0.05 if look_down else 0.0)
        for side in (-1, 1):
            ecx = cx + side * RX * 0.40 + turn
            scale = 1.0 - 0.25 * max(0.0, self.facing * side)  # the far eye looks narrower
            ell((ecx, ey), (RX * 0.30 * scale, RY * 0.13), skin * 0.62)  # socket shadow
            brow_y = ey - RY * (0.17 if look_down else 0.20)
            cv2.ellipse(
                img,
                (int(ecx), int(brow_y)),
                (int(RX * 0.28 * scale), int(RY * 0.09)),
                0,
                200,
                340,
                _c(np.array(st.hair) * 0.8),
                max(int(S * 2.0 * self.rx / 27), 2),
                cv2.LINE_AA,
            )
            if blink:
                cv2.line(
                    img,
                    (int(ecx - RX * 0.2 * scale), int(ey)),
                    (int(ecx + RX * 0.2 * scale), int(ey)),
                    _c(skin * 0.45),
                    max(int(S * 1.5 * self.rx / 27), 2),
                    cv2.LINE_AA,
                )
            else:
                ell((ecx, ey), (RX * 0.21 * scale, RY * 0.085), (235, 235, 240))
                py = ey + (RY * 0.035 if look_down else 0.0)
                px = ecx + turn * 0.35
                ell((px, py), (RX * 0.10 * scale, RX * 0.10), (45, 35, 25))
                ell((px, py), (RX * 0.05 * scale, RX * 0.05), (5, 5, 5))
                ell(
                    (ecx, ey),
                    (RX * 0.21 * scale, RY * 0.085),
                    (30, 30, 40),
                    None,
                    180,
                    360,
                    max(int(S * 1.2 * self.rx / 27), 1),
                )
        # nose: lit bridge and a shadow under it
        nx = cx + turn * 1.2
        bridge = np.array(
            [
                [nx, ey + RY * 0.05],
                [nx - RX * 0.13, cy + RY * 0.30],
                [nx + RX * 0.13, cy + RY * 0.30],
            ],
            np.int32,
        )
        cv2.fillConvexPoly(img, bridge, _c(skin * 1.05), cv2.LINE_AA)
        ell((nx, cy + RY * 0.30), (RX * 0.16, RY * 0.05), skin * 0.6)
        # mouth: opens with speech
        my = cy + RY * 0.52
        opening = 0.02 + 0.15 * mouth
        ell((cx + turn, my), (RX * 0.30, RY * opening), (40, 40, 110))
        ell(
            (cx + turn, my),
            (RX * 0.30, RY * opening),
            (70, 80, 160),
            None,
            0,
            360,
            max(int(S * 1.5 * self.rx / 27), 1),
        )
        if mouth > 0.3:
            ell(
                (cx + turn, my - RY * opening * 0.55),
                (RX * 0.22, RY * opening * 0.35),
                (220, 225, 230),
            )  # teeth
        small = cv2.resize(img, (self.width, self.height), interpolation=cv2.INTER_AREA)
        a = cv2.resize(alpha, (self.width, self.height), interpolation=cv2.INTER_AREA)
        return np.clip(small, 0, 255), np.clip(a, 0, 1)[:, :, None]


def _paste(dst: np.ndarray, sprite: np.ndarray, alpha: np.ndarray, top_left: np.ndarray) -> None:
    """Alpha-blend a sprite into ``dst`` at integer position (clipped to the image)."""
    x0, y0 = int(round(top_left[0])), int(round(top_left[1]))
    h, w = alpha.shape[:2]
    X0, Y0 = max(x0, 0), max(y0, 0)
    X1, Y1 = min(x0 + w, dst.shape[1]), min(y0 + h, dst.shape[0])
    if X1 <= X0 or Y1 <= Y0:
        return
    s = sprite[Y0 - y0 : Y1 - y0, X0 - x0 : X1 - x0]
    a = alpha[Y0 - y0 : Y1 - y0, X0 - x0 : X1 - x0]
    region = dst[Y0:Y1, X0:X1].astype(np.float32)
    dst[Y0:Y1, X0:X1] = (region + (s - region) * a).astype(np.uint8)


# -- drawing helpers -----------------------------------------------------------------------------


def draw_shapes(img: np.ndarray, shapes: list[Shape], M: np.ndarray, px_per_m: float) -> None:
    """Draw table-metre shapes into ``img`` through the 2×3 affine ``M``."""
    for sh in shapes:
        pts = L.apply_affine(M, sh.points)
        if sh.kind == "poly":
            p = _fx(pts)
            cv2.fillPoly(img, [p], sh.color, cv2.LINE_AA, _SHIFT)
            if sh.outline is not None:
                cv2.polylines(img, [p], True, sh.outline, 1, cv2.LINE_AA, _SHIFT)
        elif sh.kind == "circle":
            r = sh.radius_m * px_per_m
            if r < 0.8:
                continue  # too small to see at this scale
            radius = int(r * _ONE)
            for x, y in _fx(pts).tolist():
                cv2.circle(img, (x, y), radius, sh.color, -1, cv2.LINE_AA, _SHIFT)
                if sh.outline is not None and r > 2.0:
                    cv2.circle(img, (x, y), radius, sh.outline, 1, cv2.LINE_AA, _SHIFT)
        elif sh.kind == "line":
            thickness = max(int(round(sh.thickness_m * px_per_m)), 1)
            cv2.polylines(img, [_fx(pts)], False, sh.color, thickness, cv2.LINE_AA, _SHIFT)


def draw_arm_and_hand(
    img: np.ndarray,
    shoulder: np.ndarray,
    hand: np.ndarray,
    px_per_m: float,
    style: PersonStyle,
    pointing: bool,
    arm_scale: float = 1.0,
) -> None:
    """A sleeved arm from ``shoulder`` to a palm at ``hand`` (pixels), fingers pointing away."""
    d = hand - shoulder
    length = float(np.hypot(*d))
    if length < 1e-6:
        return
    u = d / length
    n = np.array([-u[1], u[0]])
    palm_r = 0.028 * px_per_m
    wrist = hand - u * palm_r * 1.1
    sleeve_w = max(int(0.055 * px_per_m * arm_scale), 2)
    cv2.line(
        img,
        tuple(int(v) for v in _fx(shoulder)),
        tuple(int(v) for v in _fx(wrist - u * palm_r * 0.6)),
        style.shirt,
        sleeve_w,
        cv2.LINE_AA,
        _SHIFT,
    )
    skin = np.array(style.skin, float)
    cv2.line(
        img,
        tuple(int(v) for v in _fx(wrist - u * palm_r * 0.8)),
        tuple(int(v) for v in _fx(wrist)),
        _c(skin * 0.9),
        max(int(sleeve_w * 0.7), 1),
        cv2.LINE_AA,
        _SHIFT,
    )
    angle = float(np.degrees(np.arctan2(u[1], u[0])))
    center = tuple(int(v) for v in _fx(hand))
    axes = (int(palm_r * 1.15 * _ONE), int(palm_r * 0.9 * _ONE))
    cv2.ellipse(img, center, axes, angle, 0, 360, _c(skin), -1, cv2.LINE_AA, _SHIFT)
    cv2.ellipse(img, center, axes, angle, 0, 360, _c(skin * 0.75), 1, cv2.LINE_AA, _SHIFT)
    finger_w = max(int(palm_r * 0.32), 1)
    for k, offset in enumerate((-0.6, -0.2, 0.2, 0.6)):
        base = hand + u * palm_r * 0.8 + n * offset * palm_r
        reach = 1.25 if (pointing and k == 1) else (0.35 if pointing else 0.75)
        tip = base + u * palm_r * reach
        cv2.line(
            img,
            tuple(int(v) for v in _fx(base)),
            tuple(int(v) for v in _fx(tip)),
            _c(skin * 0.95),
            finger_w,
            cv2.LINE_AA,
            _SHIFT,
        )
    thumb_base = hand - n * palm_r * 0.8
    cv2.line(
        img,
        tuple(int(v) for v in _fx(thumb_base)),
        tuple(int(v) for v in _fx(thumb_base + (u - n) * palm_r * 0.55)),
        _c(skin * 0.92),
        finger_w,
        cv2.LINE_AA,
        _SHIFT,
    )


# -- static textures -----------------------------------------------------------------------------


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Value noise in [-1, 1] with features about ``cell`` pixels wide."""
    coarse = rng.uniform(-1, 1, size=(h // cell + 2, w // cell + 2)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def wood_texture(rng: np.random.Generator, h: int, w: int, px_per_m: float) -> np.ndarray:
    """Top-down wooden table top (planks along the image x axis), BGR uint8."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    warp = _smooth_noise(rng, h, w, 40) * 6.0 + _smooth_noise(rng, h, w, 9) * 1.2
    grain = np.sin((y + warp) * (2 * np.pi / (0.006 * px_per_m))) * 0.5 + 0.5
    rings = np.sin((y * 0.3 + warp * 3 + x * 0.01) * (2 * np.pi / (0.05 * px_per_m))) * 0.5 + 0.5
    plank = 0.15 * px_per_m
    seam = (np.abs(((y + 0.5 * plank) % plank) - plank / 2) > plank / 2 - 1.5).astype(np.float32)
    shade = 0.82 + 0.10 * grain + 0.08 * rings - 0.25 * seam + 0.03 * _smooth_noise(rng, h, w, 3)
    plank_tone = 1.0 + 0.06 * np.sin(np.floor(y / plank) * 2.7)
    base = np.array([72, 122, 168], np.float32)
    img = base[None, None, :] * (shade * plank_tone)[:, :, None]
    return np.clip(img, 0, 255).astype(np.uint8)


def table_texture(rng: np.random.Generator, procedure: str) -> tuple[np.ndarray, np.ndarray]:
    """The table top in table coordinates (both head canvases and the exo view use it):
    returns (image, 2×3 affine table metres → image px) at the head-canvas scale."""
    s = L.TABLE_PX_PER_M
    x_half, y_half = 0.48, 0.42
    w, h = int(2 * x_half * s), int(2 * y_half * s)
    img = wood_texture(rng, h, w, s)
    M = np.array([[s, 0.0, x_half * s], [0.0, -s, y_half * s]])  # +y (towards the learner) is up
    # static objects: mug, notebook with lines, ruler, a few screws/crumbs
    mug = L.apply_affine(M, np.array(L.TABLE_ITEM_ANCHORS_M[0]))[0]
    cv2.circle(
        img,
        tuple(int(v) for v in _fx(mug)),
        int(0.04 * s * _ONE),
        (235, 235, 235),
        -1,
        cv2.LINE_AA,
        _SHIFT,
    )
    cv2.circle(
        img,
        tuple(int(v) for v in _fx(mug)),
        int(0.032 * s * _ONE),
        (40, 60, 90),
        -1,
        cv2.LINE_AA,
        _SHIFT,
    )
    cv2.line(
        img,
        tuple(int(v) for v in _fx(mug + [0.04 * s, 0])),
        tuple(int(v) for v in _fx(mug + [0.06 * s, 0])),
        (230, 230, 230),
        max(int(0.012 * s), 1),
        cv2.LINE_AA,
        _SHIFT,
    )
    nb = np.array(L.TABLE_ITEM_ANCHORS_M[1])
    corners = L.apply_affine(
        M,
        np.array(
            [
                [nb[0] - 0.07, nb[1] - 0.1],
                [nb[0] + 0.07, nb[1] - 0.1],
                [nb[0] + 0.07, nb[1] + 0.1],
                [nb[0] - 0.07, nb[1] + 0.1],
            ]
        ),
    )
    cv2.fillPoly(img, [_fx(corners)], (230, 238, 242), cv2.LINE_AA, _SHIFT)
    for k in range(1, 12):
        yy = nb[1] - 0.1 + k * 0.2 / 12
        a, b = L.apply_affine(M, np.array([[nb[0] - 0.06, yy], [nb[0] + 0.06, yy]]))
        cv2.line(
            img,
            tuple(int(v) for v in _fx(a)),
            tuple(int(v) for v in _fx(b)),
            (200, 170, 150),
            1,
            cv2.LINE_AA,
            _SHIFT,
        )
    ruler = L.apply_affine(M, np.array([[-0.3, 0.33], [0.05, 0.33], [0.05, 0.36], [-0.3, 0.36]]))
    cv2.fillPoly(img, [_fx(ruler)], (120, 210, 230), cv2.LINE_AA, _SHIFT)
    for k in range(36):
        x = -0.3 + k * 0.01
        a, b = L.apply_affine(M, np.array([[x, 0.36], [x, 0.36 - (0.012 if k % 5 else 0.02)]]))
        cv2.line(
            img,
            tuple(int(v) for v in _fx(a)),
            tuple(int(v) for v in _fx(b)),
            (30, 30, 30),
            1,
            cv2.LINE_AA,
            _SHIFT,
        )
    for _ in range(25):
        p = L.apply_affine(M, np.array([rng.uniform(-0.45, 0.45), rng.uniform(-0.4, 0.4)]))[0]
        cv2.circle(
            img,
            tuple(int(v) for v in _fx(p)),
            int(rng.uniform(0.8, 2.0) * _ONE),
            _c(rng.uniform(40, 200, 3)),
            -1,
            cv2.LINE_AA,
            _SHIFT,
        )
    return img, M


def wall_texture(
    rng: np.random.Generator, h: int, w: int, base: tuple[int, int, int]
) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    stripes = 0.04 * np.sin(x * 2 * np.pi / 14.0)
    shade = (
        0.95
        + stripes
        + 0.03 * _smooth_noise(rng, h, w, 25)
        + 0.015 * _smooth_noise(rng, h, w, 2)
        - 0.12 * (y / h)
    )
    img = np.array(base, np.float32)[None, None, :] * shade[:, :, None]
    return np.clip(img, 0, 255).astype(np.uint8)


def _decorate_wall(
    img: np.ndarray, rng: np.random.Generator, anchors: tuple[tuple[float, float], ...]
) -> None:
    # picture frame with a simple landscape, a clock, a window
    (px, py), (cx, cy), (wx, wy) = anchors
    cv2.rectangle(img, (int(px - 38), int(py - 28)), (int(px + 38), int(py + 28)), (40, 50, 70), -1)
    cv2.rectangle(
        img, (int(px - 33), int(py - 23)), (int(px + 33), int(py + 23)), (200, 170, 120), -1
    )
    cv2.rectangle(img, (int(px - 33), int(py + 3)), (int(px + 33), int(py + 23)), (70, 140, 80), -1)
    cv2.circle(img, (int(px + 15), int(py - 10)), 7, (80, 220, 250), -1, cv2.LINE_AA)
    pts = np.array([[px - 33, py + 5], [px - 10, py - 15], [px + 10, py + 5]], np.int32)
    cv2.fillConvexPoly(img, pts, (110, 110, 120), cv2.LINE_AA)
    cv2.circle(img, (int(cx), int(cy)), 20, (240, 240, 240), -1, cv2.LINE_AA)
    cv2.circle(img, (int(cx), int(cy)), 20, (50, 50, 50), 2, cv2.LINE_AA)
    for k in range(12):
        a = k * np.pi / 6
        cv2.line(
            img,
            (int(cx + 16 * np.cos(a)), int(cy + 16 * np.sin(a))),
            (int(cx + 19 * np.cos(a)), int(cy + 19 * np.sin(a))),
            (40, 40, 40),
            1,
            cv2.LINE_AA,
        )
    hour = rng.uniform(0, 2 * np.pi)
    cv2.line(
        img,
        (int(cx), int(cy)),
        (int(cx + 10 * np.cos(hour)), int(cy + 10 * np.sin(hour))),
        (20, 20, 20),
        2,
        cv2.LINE_AA,
    )
    cv2.line(
        img,
        (int(cx), int(cy)),
        (int(cx + 15 * np.cos(hour * 12)), int(cy + 15 * np.sin(hour * 12))),
        (20, 20, 20),
        1,
        cv2.LINE_AA,
    )
    cv2.rectangle(
        img, (int(wx - 45), int(wy - 40)), (int(wx + 45), int(wy + 30)), (235, 230, 225), -1
    )
    cv2.rectangle(
        img, (int(wx - 40), int(wy - 35)), (int(wx + 40), int(wy + 25)), (245, 220, 190), -1
    )
    cv2.line(img, (int(wx), int(wy - 35)), (int(wx), int(wy + 25)), (235, 230, 225), 3)
    cv2.line(img, (int(wx - 40), int(wy - 5)), (int(wx + 40), int(wy - 5)), (235, 230, 225), 3)


# -- renderer ------------------------------------------------------------------------------------


class SceneRenderer:
    """Draws head and exo frames of one session (see the module docstring)."""

    def __init__(
        self, world: World, rng: np.random.Generator, width: int, height: int, procedure: str
    ) -> None:
        self.world = world
        self.width, self.height = width, height
        self.k = L.frame_scale(width)
        table, table_M = table_texture(rng, procedure)
        self._canvases = {
            p: self._head_canvas(p, rng, table, table_M) for p in (INSTRUCTOR, LEARNER)
        }
        self._faces = {
            p: FaceSprites(STYLES[p], L.FACE_RX, L.FACE_RY) for p in (INSTRUCTOR, LEARNER)
        }
        self._exo_faces = {
            p: FaceSprites(
                STYLES[p], L.EXO_PEOPLE[p]["rx"], L.EXO_PEOPLE[p]["ry"], L.EXO_PEOPLE[p]["facing"]
            )
            for p in (INSTRUCTOR, LEARNER)
        }
        self._exo_background, self._exo_table = self._exo_static(rng, table, table_M)
        self._exo_H = L.exo_homography()
        self._noise = {
            name: [rng.normal(0.0, 1.6, size=(height, width, 3)).astype(np.int16) for _ in range(6)]
            for name in ("instructor", "learner", "exo")
        }
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        r2 = ((xx - width / 2) / (width / 2)) ** 2 + ((yy - height / 2) / (height / 2)) ** 2
        self._vignette = np.repeat(
            (np.clip(1.0 - 0.22 * r2, 0, 1) * 255)[:, :, None], 3, axis=2
        ).astype(np.uint8)

    # static layers

    def _head_canvas(
        self, wearer: str, rng: np.random.Generator, table: np.ndarray, table_M: np.ndarray
    ) -> np.ndarray:
        partner = PARTNER[wearer]
        wall_color = (176, 186, 180) if wearer == INSTRUCTOR else (150, 180, 200)
        canvas = np.zeros((L.CANVAS_H, L.CANVAS_W, 3), np.uint8)
        canvas[:] = wall_texture(rng, L.CANVAS_H, L.CANVAS_W, wall_color)
        anchors = (
            L.WALL_ANCHORS
            if wearer == INSTRUCTOR
            else (L.WALL_ANCHORS[1], L.WALL_ANCHORS[0], L.WALL_ANCHORS[2])
        )
        _decorate_wall(canvas, rng, anchors)  # type: ignore[arg-type]
        # partner's torso behind the far table edge
        style = STYLES[partner]
        (lx, ly), (rx, ry) = L.PARTNER_SHOULDERS
        torso = np.array(
            [
                [lx - 8, ly + 30],
                [lx + 10, ly - 8],
                [rx - 10, ry - 8],
                [rx + 8, ry + 30],
                [rx + 12, L.TABLE_FAR_EDGE_Y + 5],
                [lx - 12, L.TABLE_FAR_EDGE_Y + 5],
            ]
        )
        cv2.fillPoly(canvas, [_fx(torso)], style.shirt, cv2.LINE_AA, _SHIFT)
        collar = np.array(
            [
                [L.FACE_CENTER[0] - 16, ly - 8],
                [L.FACE_CENTER[0], ly + 14],
                [L.FACE_CENTER[0] + 16, ly - 8],
            ]
        )
        cv2.fillPoly(canvas, [_fx(collar)], _c(np.array(style.skin) * 0.78), cv2.LINE_AA, _SHIFT)
        # table: the shared texture seen from this side (the learner sits opposite)
        M_canvas = L.table_to_canvas_matrix(wearer)
        # image px → table m → canvas px
        A = np.vstack([table_M, [0, 0, 1]])
        B = np.vstack([M_canvas, [0, 0, 1]])
        img_to_canvas = (B @ np.linalg.inv(A))[:2]
        table_layer = cv2.warpAffine(
            table,
            img_to_canvas,
            (L.CANVAS_W, L.CANVAS_H),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        )
        top = int(L.TABLE_FAR_EDGE_Y)
        canvas[top:] = table_layer[top:]
        cv2.line(canvas, (0, top), (L.CANVAS_W, top), (40, 70, 100), 2)
        return canvas

    def _exo_static(
        self, rng: np.random.Generator, table: np.ndarray, table_M: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        img = wall_texture(rng, L.REF_H, L.REF_W, (185, 190, 195))
        img[150:] = (
            np.array([95, 105, 115], np.float32)
            * (0.9 + 0.1 * _smooth_noise(rng, L.REF_H - 150, L.REF_W, 6)[:, :, None])
        ).astype(np.uint8)
        cv2.rectangle(img, (120, 20), (200, 70), (40, 50, 70), -1)
        cv2.rectangle(img, (124, 24), (196, 66), (190, 160, 120), -1)
        # table apron and legs
        quad = L.EXO_TABLE_QUAD
        apron = np.array([quad[3], quad[2], quad[2] + [0, 10], quad[3] + [0, 10]])
        cv2.fillPoly(img, [_fx(apron)], (45, 80, 115), cv2.LINE_AA, _SHIFT)
        for x in (22, 298):
            cv2.rectangle(img, (x - 4, 230), (x + 4, 240), (40, 70, 100), -1)
        # the two people: chairs and torsos
        for person, sign in ((INSTRUCTOR, 1.0), (LEARNER, -1.0)):
            st = STYLES[person]
            hx, hy = L.EXO_PEOPLE[person]["head"]
            torso = np.array(
                [[hx - 22, 200], [hx - 18, hy + 22], [hx + 18, hy + 22], [hx + 22, 200]]
            )
            cv2.rectangle(
                img,
                (int(hx - 26 - 8 * sign), 150),
                (int(hx + 26 - 8 * sign), 205),
                (50, 50, 55),
                -1,
            )
            cv2.fillPoly(img, [_fx(torso)], st.shirt, cv2.LINE_AA, _SHIFT)
        tw, th = L.exo_table_image_size()
        # table image for the exo view: the shared texture resampled to the exo scale
        A = np.vstack([table_M, [0, 0, 1]])
        B = np.vstack([L.exo_table_image_matrix(), [0, 0, 1]])
        exo_table = cv2.warpAffine(
            table,
            (B @ np.linalg.inv(A))[:2],
            (tw, th),
            flags=cv2.INTER_AREA,
            borderMode=cv2.BORDER_REFLECT,
        )
        return img, exo_table

    # per frame

    def _finish(self, frame: np.ndarray, noise_key: str, index: int, vignette: bool) -> np.ndarray:
        if vignette:
            frame = cv2.multiply(frame, self._vignette, scale=1.0 / 255.0)
        noise = self._noise[noise_key][index % len(self._noise[noise_key])]
        return np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)

    def head_frame(self, wearer: str, t: float, index: int) -> np.ndarray:
        w = self.world
        partner = PARTNER[wearer]
        M_view = w.view_matrix(wearer, t)
        inv = cv2.invertAffineTransform(M_view)
        corners = L.apply_affine(
            inv, np.array([[0, 0], [self.width, 0], [self.width, self.height], [0, self.height]])
        )
        x0 = int(np.clip(np.floor(corners[:, 0].min()) - 4, 0, L.CANVAS_W - 1))
        y0 = int(np.clip(np.floor(corners[:, 1].min()) - 4, 0, L.CANVAS_H - 1))
        x1 = int(np.clip(np.ceil(corners[:, 0].max()) + 4, x0 + 1, L.CANVAS_W))
        y1 = int(np.clip(np.ceil(corners[:, 1].max()) + 4, y0 + 1, L.CANVAS_H))
        crop = self._canvases[wearer][y0:y1, x0:x1].copy()
        offset = np.array([x0, y0], float)
        T = L.table_to_canvas_matrix(wearer).copy()
        T[:, 2] -= offset
        s = L.TABLE_PX_PER_M
        draw_shapes(crop, w.geometry.shapes(w.progress(t)), T, s)
        # the partner: face above the table, arms reaching onto it
        sprites = self._faces[partner]
        sprite, alpha = sprites.get(
            w.mouth(partner, t), w.blinking(partner, t), w.looking_down(partner, t)
        )
        _paste(crop, sprite, alpha, w.partner_face_center(wearer, t) - sprites.center - offset)
        hands = w.hands(partner, t)
        # the partner faces the wearer: their right hand appears on the wearer's left
        for side, shoulder in (("right", L.PARTNER_SHOULDERS[0]), ("left", L.PARTNER_SHOULDERS[1])):
            hand = L.apply_affine(T, hands[side].position)[0]
            draw_arm_and_hand(
                crop,
                np.array(shoulder) - offset,
                hand,
                s * 0.8,
                STYLES[partner],
                hands[side].pointing,
            )
        own = w.hands(wearer, t)
        for side, ox in (("left", L.OWN_ARM_ORIGIN_X[0]), ("right", L.OWN_ARM_ORIGIN_X[1])):
            hand = L.apply_affine(T, own[side].position)[0]
            draw_arm_and_hand(
                crop,
                np.array([ox, L.OWN_ARM_ORIGIN_Y]) - offset,
                hand,
                s,
                STYLES[wearer],
                own[side].pointing,
                1.4,
            )
        M_crop = M_view.copy()
        M_crop[:, 2] = M_view[:, 2] + M_view[:, :2] @ offset
        frame = cv2.warpAffine(
            crop,
            M_crop,
            (self.width, self.height),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        return self._finish(frame, wearer, index, vignette=True)

    def exo_frame(self, t: float, index: int) -> np.ndarray:
        w = self.world
        table = self._exo_table.copy()
        M = L.exo_table_image_matrix()
        s = L.EXO_TABLE_PX_PER_M
        draw_shapes(table, w.geometry.shapes(w.progress(t)), M, s)
        frame = self._exo_background.copy()
        hands_px: dict[str, dict[str, np.ndarray]] = {}
        for person in (INSTRUCTOR, LEARNER):
            hands = w.hands(person, t)
            hands_px[person] = {}
            for side, hand in hands.items():
                p = L.apply_affine(M, hand.position)[0]
                hands_px[person][side] = p
        warped = cv2.warpPerspective(
            table,
            self._exo_H,
            (L.REF_W, L.REF_H),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0),
        )
        mask = cv2.warpPerspective(
            np.full(table.shape[:2], 255, np.uint8), self._exo_H, (L.REF_W, L.REF_H)
        )
        np.copyto(frame, warped, where=mask[:, :, None] > 127)
        for person in (INSTRUCTOR, LEARNER):
            st = STYLES[person]
            sx, sy = L.EXO_SHOULDERS[person]
            for side in ("right", "left"):
                table_px = hands_px[person][side]
                hp = cv2.perspectiveTransform(
                    table_px[None, None, :].astype(np.float64), self._exo_H
                )[0, 0]
                shoulder = np.array([sx, sy + (4.0 if side == "left" else 0.0)])
                draw_arm_and_hand(frame, shoulder, hp, 160.0, st, False, 0.9)
            sprites = self._exo_faces[person]
            sprite, alpha = sprites.get(
                w.mouth(person, t), w.blinking(person, t), w.looking_down(person, t)
            )
            head = np.array(L.EXO_PEOPLE[person]["head"]) + (
                np.array([0.0, 3.0]) if w.looking_down(person, t) else 0.0
            )
            _paste(frame, sprite, alpha, head - sprites.center)
        if self.k != 1.0:
            frame = cv2.resize(frame, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        return self._finish(frame, "exo", index, vignette=False)

"""What lies on the table during a demo procedure, as a function of step progress (pure).

Contract
--------
A :class:`ProcedureGeometry` maps the progress of every step (0 = not started, 1 = done) to

* :meth:`~ProcedureGeometry.shapes`: drawable :class:`Shape` s in table metres (bottom to top),
* :meth:`~ProcedureGeometry.focus`: where the working hand is while doing a step,
* :meth:`~ProcedureGeometry.target`: where a step happens (for pointing and idle gaze),
* :meth:`~ProcedureGeometry.sounds`: progress values where the step makes a sound.

Progress within a step is split evenly over its *sub-parts* (two red blocks, two corners, …);
each sub-part goes reach → move → press. ``demo_share`` is the part of a step the instructor
does while demonstrating (0 = the demonstration is a gesture only).

block_assembly: grey base plate, two red blocks, long blue block, yellow roof; parts start in a
tray area on the right and are slightly misaligned when placed until check_structure presses
them straight. paper_folding: a square sheet folded into a triangle, corners up, ears out,
turned over and a face drawn with a pen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

BGR = tuple[int, int, int]


@dataclass(frozen=True)
class Shape:
    """``poly`` (filled polygon, optional outline), ``circle`` (one per point, all of
    ``radius_m``) or ``line`` (polyline, ``thickness_m``); points in table metres."""

    kind: str
    points: np.ndarray
    color: BGR
    radius_m: float = 0.0
    thickness_m: float = 0.0
    outline: BGR | None = None


def smoothstep(x: float | np.ndarray) -> float | np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _lerp(a: np.ndarray, b: np.ndarray, f: float) -> np.ndarray:
    return np.asarray(a, float) + (np.asarray(b, float) - np.asarray(a, float)) * f


def _rect(
    center: np.ndarray, size: tuple[float, float], angle_deg: float, scale: float = 1.0
) -> np.ndarray:
    w, h = size[0] * scale / 2.0, size[1] * scale / 2.0
    c, s = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
    corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]])
    R = np.array([[c, -s], [s, c]])
    return corners @ R.T + center


def _darker(color: BGR, f: float) -> BGR:
    return (int(color[0] * f), int(color[1] * f), int(color[2] * f))


class ProcedureGeometry:
    """Base class; see the module docstring."""

    steps: tuple[str, ...] = ()

    def subparts(self, step: str) -> int:
        raise NotImplementedError

    def demo_share(self, step: str) -> float:
        raise NotImplementedError

    def shapes(self, progress: Mapping[str, float]) -> list[Shape]:
        raise NotImplementedError

    def focus(self, step: str, p: float) -> np.ndarray:
        raise NotImplementedError

    def target(self, step: str) -> np.ndarray:
        raise NotImplementedError

    def sounds(self, step: str) -> list[tuple[float, float, str]]:
        """(progress start, progress end, kind); start == end for a short impulsive sound."""
        raise NotImplementedError

    def _sub(self, step: str, p: float) -> tuple[int, float]:
        n = self.subparts(step)
        k = min(int(p * n), n - 1)
        return k, float(np.clip(p * n - k, 0.0, 1.0))


# -- block assembly ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Part:
    size: tuple[float, float]
    color: BGR
    tray: tuple[float, float, float]  # x, y, angle (deg)
    target: tuple[float, float, float]
    studs: tuple[int, int]
    roof: bool = False


class BlockAssembly(ProcedureGeometry):
    steps = (
        "place_base_plate",
        "attach_red_blocks",
        "attach_blue_block",
        "add_yellow_roof",
        "check_structure",
    )
    parts: dict[str, _Part] = {
        "plate": _Part((0.16, 0.12), (150, 152, 150), (-0.25, 0.06, 90.0), (0.0, 0.0, 0.0), (8, 6)),
        "red1": _Part((0.04, 0.04), (40, 40, 200), (0.20, 0.13, 10.0), (-0.04, 0.03, 0.0), (2, 2)),
        "red2": _Part(
            (0.04, 0.04), (40, 40, 200), (0.26, 0.12, -15.0), (-0.04, -0.03, 0.0), (2, 2)
        ),
        "blue": _Part((0.03, 0.10), (190, 100, 30), (0.22, 0.04, 80.0), (-0.04, 0.0, 0.0), (1, 5)),
        "roof": _Part(
            (0.05, 0.10), (30, 200, 230), (0.22, -0.06, 95.0), (-0.04, 0.0, 0.0), (0, 0), roof=True
        ),
    }
    moves: dict[str, tuple[str, ...]] = {
        "place_base_plate": ("plate",),
        "attach_red_blocks": ("red1", "red2"),
        "attach_blue_block": ("blue",),
        "add_yellow_roof": ("roof",),
    }
    check_order = ("plate", "red1", "red2", "blue", "roof")

    def __init__(self, rng: np.random.Generator) -> None:
        # how crooked each part sits after placing it, until check_structure presses it straight
        self.misalign = {
            name: (
                float(rng.uniform(-0.004, 0.004)),
                float(rng.uniform(-0.004, 0.004)),
                float(rng.uniform(-6, 6)),
            )
            for name in self.parts
        }

    def subparts(self, step: str) -> int:
        return len(self.check_order) if step == "check_structure" else len(self.moves[step])

    def demo_share(self, step: str) -> float:
        return 0.5 if step in ("attach_red_blocks", "check_structure") else 0.0

    def _move_of(self, name: str) -> tuple[str, int]:
        for step, names in self.moves.items():
            if name in names:
                return step, names.index(name)
        raise KeyError(name)

    def _pose(self, name: str, progress: Mapping[str, float]) -> tuple[np.ndarray, float, float]:
        """(centre, angle, lift 0..1) of a part."""
        part = self.parts[name]
        step, k = self._move_of(name)
        n = len(self.moves[step])
        u = float(np.clip(progress.get(step, 0.0) * n - k, 0.0, 1.0))
        dx, dy, da = self.misalign[name]
        k_check = self.check_order.index(name)
        u_check = float(
            np.clip(
                progress.get("check_structure", 0.0) * len(self.check_order) - k_check, 0.0, 1.0
            )
        )
        straight = 1.0 - float(smoothstep((u_check - 0.3) / 0.3))
        target = np.array(part.target[:2]) + straight * np.array([dx, dy])
        target_angle = part.target[2] + straight * da
        tray = np.array(part.tray[:2])
        if u < 0.3:
            return tray, part.tray[2], 0.0
        if u < 0.8:
            f = float(smoothstep((u - 0.3) / 0.5))
            lift = float(np.sin(np.pi * f))
            return _lerp(tray, target, f), part.tray[2] + (target_angle - part.tray[2]) * f, lift
        return target, target_angle, 0.0

    def shapes(self, progress: Mapping[str, float]) -> list[Shape]:
        poses = {name: self._pose(name, progress) for name in self.parts}
        lying = [n for n in self.parts if poses[n][2] == 0.0]
        lifted = [n for n in self.parts if poses[n][2] > 0.0]
        # parts on the table: tray parts first, then placed ones in stacking order
        placed_order = [n for n in self.check_order if n in lying]
        tray_first = sorted(
            placed_order, key=lambda n: 0 if np.allclose(poses[n][0], self.parts[n].tray[:2]) else 1
        )
        out: list[Shape] = []
        for name in tray_first + lifted:
            out += self._part_shapes(name, *poses[name])
        return out

    def _part_shapes(self, name: str, center: np.ndarray, angle: float, lift: float) -> list[Shape]:
        part = self.parts[name]
        scale = 1.0 + 0.12 * lift
        shadow_offset = np.array([0.004 + 0.015 * lift, -0.004 - 0.015 * lift])
        out = [Shape("poly", _rect(center + shadow_offset, part.size, angle, scale), (38, 58, 80))]
        body = _rect(center, part.size, angle, scale)
        if part.roof:
            # seen from above: two sloped halves either side of the ridge, different shading
            a, b, c, d = body
            mid_ab, mid_cd = (a + b) / 2, (c + d) / 2
            out.append(
                Shape(
                    "poly",
                    np.array([a, mid_ab, mid_cd, d]),
                    part.color,
                    outline=_darker(part.color, 0.6),
                )
            )
            out.append(
                Shape(
                    "poly",
                    np.array([mid_ab, b, c, mid_cd]),
                    _darker(part.color, 0.78),
                    outline=_darker(part.color, 0.6),
                )
            )
            out.append(
                Shape(
                    "line", np.array([mid_ab, mid_cd]), _darker(part.color, 0.5), thickness_m=0.002
                )
            )
            return out
        out.append(Shape("poly", body, part.color, outline=_darker(part.color, 0.55)))
        nx, ny = part.studs
        pitch_x, pitch_y = part.size[0] * scale / nx, part.size[1] * scale / ny
        c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
        R = np.array([[c, -s], [s, c]])
        gx = (np.arange(nx) - (nx - 1) / 2) * pitch_x
        gy = (np.arange(ny) - (ny - 1) / 2) * pitch_y
        studs = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2) @ R.T + center
        stud_color = tuple(min(255, int(v * 1.25) + 12) for v in part.color)
        out.append(
            Shape(
                "circle",
                studs,
                stud_color,
                radius_m=0.0055 * scale,
                outline=_darker(part.color, 0.7),
            )
        )  # type: ignore[arg-type]
        return out

    def focus(self, step: str, p: float) -> np.ndarray:
        k, u = self._sub(step, p)
        if step == "check_structure":
            names = self.check_order
            current = np.array(self.parts[names[k]].target[:2])
            previous = np.array(self.parts[names[k - 1]].target[:2]) if k else current
            return _lerp(previous, current, float(smoothstep(u / 0.3)))
        names = self.moves[step]
        part = self.parts[names[k]]
        tray, target = np.array(part.tray[:2]), np.array(part.target[:2])
        if u < 0.3:
            previous = np.array(self.parts[names[k - 1]].target[:2]) if k else tray
            return _lerp(previous, tray, float(smoothstep(u / 0.3)))
        if u < 0.8:
            return _lerp(tray, target, float(smoothstep((u - 0.3) / 0.5)))
        return target

    def target(self, step: str) -> np.ndarray:
        if step == "check_structure":
            return np.array(self.parts["roof"].target[:2])
        return np.array(self.parts[self.moves[step][0]].target[:2])

    def sounds(self, step: str) -> list[tuple[float, float, str]]:
        n = self.subparts(step)
        if step == "check_structure":
            return [((k + 0.5) / n,) * 2 + ("click",) for k in range(n)]  # type: ignore[misc]
        kind = "thud" if step == "place_base_plate" else "click"
        return [((k + 0.82) / n, (k + 0.82) / n, kind) for k in range(n)]


# -- paper folding -------------------------------------------------------------------------------

PAPER_FRONT: BGR = (200, 228, 240)  # pale side, up at the start
PAPER_BACK: BGR = (40, 130, 235)  # orange side
PAPER_BACK_DARK: BGR = (30, 105, 200)
INK: BGR = (30, 25, 25)


class PaperFolding(ProcedureGeometry):
    steps = ("fold_in_half", "fold_corners_up", "fold_flaps_down", "turn_over_and_draw")
    h = 0.12
    center = np.array([0.0, 0.04])  # table position of the paper's local origin
    pen_rest = np.array([0.19, 0.12])

    def __init__(self, rng: np.random.Generator) -> None:
        h = self.h
        self.A, self.B, self.C, self.D = (
            np.array(v) for v in ([-h, 0.0], [0.0, h], [h, 0.0], [0.0, -h])
        )
        self.O = np.array([0.0, 0.0])
        self.M_ad, self.M_cd = (self.A + self.D) / 2, (self.C + self.D) / 2
        # face strokes in local paper coordinates ("up" for the learner is -y)
        eye = 0.055 * h
        strokes: list[np.ndarray] = []
        for sx in (-1.0, 1.0):
            angles = np.linspace(0, 2 * np.pi, 9)
            strokes.append(
                np.stack([sx * 0.2 * h + eye * np.cos(angles), -0.55 * h + eye * np.sin(angles)], 1)
            )
        strokes.append(
            np.array(
                [
                    [-0.05 * h, -0.36 * h],
                    [0.05 * h, -0.36 * h],
                    [0.0, -0.30 * h],
                    [-0.05 * h, -0.36 * h],
                ]
            )
        )
        strokes.append(np.array([[-0.1 * h, -0.22 * h], [0.0, -0.18 * h], [0.1 * h, -0.22 * h]]))
        for sx in (-1.0, 1.0):
            for dy in (-0.04, 0.0, 0.04):
                strokes.append(
                    np.array(
                        [
                            [sx * 0.12 * h, -0.30 * h + dy * h],
                            [sx * 0.42 * h, -0.32 * h + 2.5 * dy * h],
                        ]
                    )
                )
        jitter = rng.normal(0.0, 0.004 * h, size=(len(strokes), 1, 2))
        self.strokes = [s + j for s, j in zip(strokes, jitter, strict=True)]

    def subparts(self, step: str) -> int:
        return 2 if step in ("fold_corners_up", "fold_flaps_down") else 1

    def demo_share(self, step: str) -> float:
        return {
            "fold_in_half": 0.0,
            "fold_corners_up": 0.5,
            "fold_flaps_down": 0.5,
            "turn_over_and_draw": 0.3,
        }[step]

    def _t(self, points: np.ndarray | list[np.ndarray]) -> np.ndarray:
        return np.asarray(points, float).reshape(-1, 2) + self.center

    @staticmethod
    def _fold(u: float) -> float:
        return float(smoothstep((u - 0.15) / 0.7))

    def _ears(self, progress: Mapping[str, float]) -> list[tuple[np.ndarray, float]]:
        """Ear flap triangles (local coords) with their fold fraction."""
        out = []
        for k, (corner, normal) in enumerate(
            (
                (self.M_ad, np.array([-1.0, -1.0]) / np.sqrt(2)),
                (self.M_cd, np.array([1.0, -1.0]) / np.sqrt(2)),
            )
        ):
            u = float(np.clip(progress.get("fold_flaps_down", 0.0) * 2 - k, 0.0, 1.0))
            f = self._fold(u)
            e1, e2 = _lerp(corner, self.D, 0.2), _lerp(corner, self.D, 0.8)
            mid = _lerp(corner, self.D, 0.5)
            tip = _lerp(mid - normal * 0.4 * self.h, mid + normal * 0.4 * self.h, f)
            out.append((np.array([e1, e2, tip]), f))
        return out

    def _outline_local(self, progress: Mapping[str, float]) -> list[tuple[np.ndarray, BGR]]:
        """Layers of the paper in local coordinates before turning over."""
        p_half = progress.get("fold_in_half", 0.0)
        p_corners = progress.get("fold_corners_up", 0.0)
        layers: list[tuple[np.ndarray, BGR]] = []
        if p_corners <= 0.0:
            f = self._fold(p_half)
            if f <= 0.0:
                return [(np.array([self.A, self.B, self.C, self.D]), PAPER_FRONT)]
            layers.append((np.array([self.A, self.C, self.D]), PAPER_FRONT))
            flap = np.array([self.A, _lerp(self.B, self.D, f), self.C])
            layers.append((flap, _darker(PAPER_FRONT, 0.85) if f < 0.5 else PAPER_BACK))
            return layers
        # folded triangle A C D with its two corners going up to D
        fl = self._fold(float(np.clip(p_corners * 2, 0, 1)))
        fr = self._fold(float(np.clip(p_corners * 2 - 1, 0, 1)))
        base = [
            self.O,
            self.M_ad if fl >= 1.0 else self.A,
            self.D,
            self.M_cd if fr >= 1.0 else self.C,
        ]
        layers.append((np.array(base), PAPER_BACK))
        if fl < 1.0:
            layers.append((np.array([self.A, self.O, self.M_ad]), PAPER_BACK))
        if fr < 1.0:
            layers.append((np.array([self.C, self.O, self.M_cd]), PAPER_BACK))
        for f, corner, mid in ((fl, self.A, self.M_ad), (fr, self.C, self.M_cd)):
            if f > 0.0:
                tip = _lerp(corner, self.D, f)
                layers.append(
                    (np.array([tip, self.O, mid]), PAPER_BACK_DARK if f < 0.5 else PAPER_BACK)
                )
        for ear, f in self._ears(progress):
            if f > 0.0:
                layers.append((ear, PAPER_BACK_DARK if f < 0.5 else (60, 120, 215)))
        return layers

    def _draw_u(self, progress: Mapping[str, float]) -> tuple[float, float]:
        """(flip fraction 0..1, drawing fraction 0..1) of turn_over_and_draw."""
        u = progress.get("turn_over_and_draw", 0.0)
        return float(smoothstep((u - 0.05) / 0.22)), float(np.clip((u - 0.32) / 0.63, 0.0, 1.0))

    def _pen_tip_local(self, drawn: float) -> np.ndarray:
        n = len(self.strokes)
        k = min(int(drawn * n), n - 1)
        stroke = self.strokes[k]
        s = float(np.clip(drawn * n - k, 0, 1)) * (len(stroke) - 1)
        i = min(int(s), len(stroke) - 2)
        return _lerp(stroke[i], stroke[i + 1], s - i)

    def shapes(self, progress: Mapping[str, float]) -> list[Shape]:
        flip, drawn = self._draw_u(progress)
        out: list[Shape] = []
        layers = self._outline_local(progress)
        if flip > 0.0:
            # turning over: mirror about the vertical axis; past halfway the plain back shows
            xscale = float(np.cos(np.pi * flip))
            cx = float(np.mean(layers[0][0][:, 0]))
            if flip >= 0.5:
                outline = np.array([self.O, self.M_ad, self.D, self.M_cd])
                layers = [(outline, (45, 138, 240))] + [
                    (e, (45, 138, 240)) for e, f in self._ears(progress) if f > 0
                ]
            layers = [
                (np.column_stack([cx + (pts[:, 0] - cx) * xscale, pts[:, 1]]), col)
                for pts, col in layers
            ]
        shadow = self._t(layers[0][0]) + np.array([0.003, -0.003])
        out.append(Shape("poly", shadow, (45, 62, 85)))
        for pts, color in layers:
            out.append(Shape("poly", self._t(pts), color, outline=_darker(color, 0.7)))
        if flip < 0.5 and progress.get("fold_corners_up", 0.0) > 0.0:
            out.append(
                Shape(
                    "line", self._t([self.O, self.D]), _darker(PAPER_BACK, 0.6), thickness_m=0.0012
                )
            )
        if drawn > 0.0:
            n = len(self.strokes)
            for k, stroke in enumerate(self.strokes):
                frac = float(np.clip(drawn * n - k, 0.0, 1.0))
                if frac <= 0.0:
                    break
                m = frac * (len(stroke) - 1)
                i = int(m)
                pts = list(stroke[: i + 1])
                if i < len(stroke) - 1:
                    pts.append(_lerp(stroke[i], stroke[i + 1], m - i))
                if len(pts) >= 2:
                    out.append(Shape("line", self._t(pts), INK, thickness_m=0.0018))
        out += self._pen(progress, flip, drawn)
        return out

    def _pen(self, progress: Mapping[str, float], flip: float, drawn: float) -> list[Shape]:
        u = progress.get("turn_over_and_draw", 0.0)
        if 0.0 < drawn < 1.0 or 0.28 < u < 1.0:
            tip = self._t(self._pen_tip_local(drawn))[0]
        else:
            tip = self.pen_rest
        direction = np.array([-0.45, 0.9]) / np.hypot(0.45, 0.9)
        tail = tip + direction * 0.12
        return [
            Shape(
                "line", np.array([tip + direction * 0.012, tail]), (150, 60, 20), thickness_m=0.008
            ),
            Shape(
                "line", np.array([tip, tip + direction * 0.014]), (60, 60, 60), thickness_m=0.004
            ),
        ]

    def focus(self, step: str, p: float) -> np.ndarray:
        k, u = self._sub(step, p)
        if step == "fold_in_half":
            f = self._fold(u)
            return self._t(
                _lerp(self.B, self.D, f) if u < 0.85 else (self.A + self.C) / 2 * 0.5 + self.D * 0.5
            )[0]
        if step == "fold_corners_up":
            corner = self.A if k == 0 else self.C
            return self._t(_lerp(corner, self.D, self._fold(u)))[0]
        if step == "fold_flaps_down":
            ear, _ = self._ears({"fold_flaps_down": (k + u) / 2})[k]
            return self._t(ear[2])[0]
        flip, drawn = self._draw_u({"turn_over_and_draw": p})
        if p < 0.3:
            return self._t((self.O + self.D) / 2)[0]
        return self._t(self._pen_tip_local(drawn))[0]

    def target(self, step: str) -> np.ndarray:
        return self._t((self.O + self.D) / 2 if step != "fold_in_half" else self.O)[0]

    def sounds(self, step: str) -> list[tuple[float, float, str]]:
        n = self.subparts(step)
        if step == "turn_over_and_draw":
            # rustle while turning over, then pen scribbles stroke by stroke
            out = [(0.1, 0.1, "rustle")]
            m = len(self.strokes)
            for k in range(m):
                a = 0.32 + 0.63 * k / m
                b = 0.32 + 0.63 * (k + 0.85) / m
                out.append((a, b, "scribble"))
            return out
        return [((k + 0.86) / n, (k + 0.86) / n, "crease") for k in range(n)]


def geometry_for(procedure: str, rng: np.random.Generator) -> ProcedureGeometry:
    if procedure == "block_assembly":
        return BlockAssembly(rng)
    if procedure == "paper_folding":
        return PaperFolding(rng)
    raise ValueError(f"unknown procedure {procedure!r}")

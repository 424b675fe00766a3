"""Kinematics of a demo session: hands, parts, heads, mouths, blinks and eye gaze over time.

Contract
--------
:class:`World` turns a :class:`~egoinstruct.demo.script.SessionPlan` into continuous functions
of the session time ``t`` (seconds; any t, also before 0 and after the end, where people sit
idle). The renderer (:mod:`egoinstruct.demo.scene`) draws what it returns and the truth files
record it, so drawn pixels, gaze samples and truth agree by construction:

* :meth:`World.progress` — progress of every step (drives the parts),
* :meth:`World.hands` — both hands of a person in table metres, with a pointing flag,
* :meth:`World.mouth`, :meth:`World.blinking`, :meth:`World.looking_down`, :meth:`World.head_offset`,
* :meth:`World.view_matrix` — the head camera pose of a wearer as a canvas → frame affine,
* :meth:`World.gaze` — the wearer's intended gaze pixel, depth and target category at times,
* :meth:`World.partner_face_box` — the partner's face box in the wearer's frame,
* :meth:`World.sound_events` — work sounds (clicks, creases, scribbles) on the session clock.

Gaze follows attention: at the partner's face (eyes, nose, mouth) while people talk, at the
active part / hands during work, with fixations of 200–600 ms joined by 30–50 ms saccades; the
head pans between a face view and a workspace view about 50 ms after the eyes move.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from egoinstruct.demo import layout as L
from egoinstruct.demo.parts import ProcedureGeometry, smoothstep
from egoinstruct.demo.script import INSTRUCTOR, LEARNER, Activity, SessionPlan
from egoinstruct.tasks import STEPS

PERSONS = (INSTRUCTOR, LEARNER)
PARTNER = {INSTRUCTOR: LEARNER, LEARNER: INSTRUCTOR}
ENV_RATE_HZ = 100.0  # rate of the speech envelopes that drive the mouths
GRID_HZ = 100.0  # rate of the head-pan attention signal

# gaze target categories (truth column gaze_target uses the first three names)
FACE, WORK, OTHER = 0, 1, 2
CATEGORY_NAMES = ("partner_face", "workspace", "other")
# fixation anchors
A_LEFT_EYE, A_RIGHT_EYE, A_NOSE, A_MOUTH, A_WALL, A_FOCUS, A_HAND, A_TARGET, A_ITEM = range(9)
_FACE_ANCHOR_FEATURE = {
    A_LEFT_EYE: "left_eye",
    A_RIGHT_EYE: "right_eye",
    A_NOSE: "nose",
    A_MOUTH: "mouth",
}


@dataclass(frozen=True)
class Hand:
    position: np.ndarray  # table metres
    pointing: bool


@dataclass
class _Fixations:
    t0: np.ndarray
    saccade: np.ndarray
    category: np.ndarray
    anchor: np.ndarray
    index: np.ndarray  # which wall / table item
    offset: np.ndarray  # [N, 2]: canvas px for face/wall anchors, metres for table anchors


class World:
    """See the module docstring. ``envelopes`` maps role → (t0, RMS samples at ENV_RATE_HZ)."""

    def __init__(
        self,
        plan: SessionPlan,
        geometry: ProcedureGeometry,
        rng: np.random.Generator,
        envelopes: dict[str, tuple[float, np.ndarray]],
        t_range: tuple[float, float],
        frame_scale: float = 1.0,
    ) -> None:
        self.plan = plan
        self.geometry = geometry
        self.t_min, self.t_max = t_range
        self.k = frame_scale
        self.rng = rng
        self._envelopes = envelopes
        self._activities = {p: [a for a in plan.activities if a.actor == p] for p in PERSONS}
        self._all_activities = sorted(plan.activities, key=lambda a: a.t_start)
        self._act_starts = {p: np.array([a.t_start for a in self._activities[p]]) for p in PERSONS}
        self._all_starts = np.array([a.t_start for a in self._all_activities])
        self._speech = {
            p: (
                np.array([u.t_start for u in plan.utterances if u.role == p]),
                np.array([u.t_end for u in plan.utterances if u.role == p]),
            )
            for p in PERSONS
        }
        self._progress_keys = self._progress_keyframes()
        # per-person idle motion: phases and frequencies of small sinusoids
        self._phases = {p: rng.uniform(0, 2 * np.pi, size=16) for p in PERSONS}
        self._blinks = {p: self._blink_times() for p in PERSONS}
        self._modes = {p: self._mode_segments(p) for p in PERSONS}
        self._grid = np.arange(self.t_min - 1.0, self.t_max + 1.0, 1.0 / GRID_HZ)
        self._attention = {p: self._attention_signal(self._modes[p]) for p in PERSONS}
        self._fixations = {p: self._make_fixations(p) for p in PERSONS}

    # -- steps and parts ---------------------------------------------------------------------

    def _progress_keyframes(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        current = {s: 0.0 for s in self.plan.steps}
        keys: dict[str, list[tuple[float, float]]] = {s: [] for s in self.plan.steps}
        for act in self._all_activities:
            if act.kind not in ("main", "demo"):
                continue
            share = self.geometry.demo_share(act.step)
            p_from = current[act.step]
            p_to = max(p_from, share) if act.kind == "demo" else 1.0
            if p_to <= p_from:
                continue
            n = self.geometry.subparts(act.step)
            duration = act.t_end - act.t_start
            # the manipulation itself takes ~2 s per sub-part; the rest is holding / pressing
            manipulate = float(
                np.clip(2.2 * n * (p_to - p_from) + 0.3, 0.4, max(duration - 0.9, 0.4))
            )
            t_a = act.t_start + 0.45
            keys[act.step] += [(t_a, p_from), (t_a + manipulate, p_to)]
            current[act.step] = p_to
        return {
            s: (np.array([k[0] for k in v]), np.array([k[1] for k in v]))
            for s, v in keys.items()
            if v
        }

    def progress(self, t: float) -> dict[str, float]:
        out = {}
        for step in self.plan.steps:
            if step in self._progress_keys:
                times, values = self._progress_keys[step]
                out[step] = float(np.interp(t, times, values, left=0.0))
            else:
                out[step] = 0.0
        return out

    def _time_at_progress(self, step: str, value: float) -> float | None:
        if step not in self._progress_keys:
            return None
        times, values = self._progress_keys[step]
        for i in range(len(times) - 1):
            if values[i] < value <= values[i + 1] and values[i + 1] > values[i]:
                f = (value - values[i]) / (values[i + 1] - values[i])
                return float(times[i] + f * (times[i + 1] - times[i]))
        return None

    def step_at(self, t: float) -> str:
        return str(self.plan.label_at(STEPS.name, np.array([t]))[0])

    # -- hands -------------------------------------------------------------------------------

    def _active(self, person: str, t: float) -> Activity | None:
        # a person's activities never overlap
        i = int(np.searchsorted(self._act_starts[person], t, side="right")) - 1
        if i >= 0 and t < self._activities[person][i].t_end:
            return self._activities[person][i]
        return None

    def _active_any(self, t: float) -> Activity | None:
        i = int(np.searchsorted(self._all_starts, t, side="right")) - 1
        for j in (i, i - 1):  # a point gesture may overlap the previous activity's end
            if 0 <= j and t < self._all_activities[j].t_end:
                return self._all_activities[j]
        return None

    def _wobble(self, person: str, t: float, amplitude: float, base: int) -> np.ndarray:
        ph = self._phases[person]
        return amplitude * np.array(
            [
                np.sin(2 * np.pi * 0.23 * t + ph[base])
                + 0.5 * np.sin(2 * np.pi * 0.61 * t + ph[base + 1]),
                np.sin(2 * np.pi * 0.19 * t + ph[base + 2])
                + 0.5 * np.sin(2 * np.pi * 0.53 * t + ph[base + 3]),
            ]
        )

    def hands(self, person: str, t: float) -> dict[str, Hand]:
        facing = L.FACING[person]
        towards_self = np.array([0.0, -facing])
        left_dir = np.array([-facing, 0.0])
        rest = {
            side: np.array(p) + self._wobble(person, t, 0.006, 0 if side == "right" else 4)
            for side, p in L.REST_HANDS_M[person].items()
        }
        act = self._active(person, t)
        if act is None:
            return {side: Hand(pos, False) for side, pos in rest.items()}
        w = float(smoothstep((t - act.t_start) / 0.45) * smoothstep((act.t_end - t) / 0.45))
        focus = self.work_focus(act, t)
        busy = 0.004 * np.array([np.sin(2 * np.pi * 2.3 * t), np.cos(2 * np.pi * 1.7 * t)])
        # palms sit behind the work point so the fingertips, not the palm, touch it
        right = focus + busy + towards_self * 0.045
        left = focus + left_dir * 0.09 + towards_self * 0.06
        if act.kind == "point":
            right = focus + towards_self * 0.05
            left = rest["left"]
        return {
            "right": Hand(
                rest["right"] + w * (right - rest["right"]), act.kind == "point" and w > 0.5
            ),
            "left": Hand(rest["left"] + w * (left - rest["left"]), False),
        }

    def work_focus(self, act: Activity, t: float) -> np.ndarray:
        """Where the hands of ``act`` work at ``t`` (table metres)."""
        g = self.geometry
        if act.kind == "point":
            return g.target(act.step)
        if act.kind == "adjust":
            return g.focus(act.step, 1.0) + 0.008 * np.array(
                [np.sin(2 * np.pi * 0.9 * t), np.cos(2 * np.pi * 0.7 * t)]
            )
        if act.kind == "demo" and g.demo_share(act.step) == 0.0:
            # demonstration as a gesture over the target: "you put it like this"
            return g.target(act.step) + 0.015 * np.array(
                [np.sin(2 * np.pi * 1.2 * t), np.cos(2 * np.pi * 1.2 * t)]
            )
        return g.focus(act.step, self.progress(t)[act.step])

    # -- faces -------------------------------------------------------------------------------

    def _blink_times(self) -> np.ndarray:
        span = self.t_max - self.t_min + 2.0
        gaps = self.rng.uniform(2.0, 6.0, size=int(span / 2.0) + 2)
        return self.t_min - 1.0 + np.cumsum(gaps)

    def blinking(self, person: str, t: float) -> bool:
        times = self._blinks[person]
        i = np.searchsorted(times, t, side="right") - 1
        return bool(i >= 0 and t - times[i] < 0.15)

    def mouth(self, person: str, t: float) -> float:
        """How open the mouth is (0..1), from the person's own speech envelope."""
        t0, env = self._envelopes[person]
        i = (t - t0) * ENV_RATE_HZ
        if i < 0 or i >= len(env) - 1:
            return 0.0
        return float(np.clip(np.interp(i, np.arange(len(env)), env), 0.0, 1.0))

    def speaking(self, person: str, t: float) -> bool:
        starts, ends = self._speech[person]
        i = int(np.searchsorted(starts, t, side="right")) - 1
        return bool(i >= 0 and t < ends[i])

    def looking_down(self, person: str, t: float) -> bool:
        return self.attention(person, t) > 0.5

    def head_offset(self, person: str, t: float) -> np.ndarray:
        """Small head movement (canvas px) of ``person`` as their partner sees them."""
        nod = 1.2 * np.sin(2 * np.pi * 1.8 * t) if self.speaking(person, t) else 0.0
        return self._wobble(person, t, 1.5, 8) + np.array(
            [0.0, nod + (L.LOOK_DOWN_SHIFT if self.looking_down(person, t) else 0.0)]
        )

    def partner_face_center(self, wearer: str, t: float) -> np.ndarray:
        return L.FACE_CENTER + self.head_offset(PARTNER[wearer], t)

    # -- attention and head pose ---------------------------------------------------------------

    def _mode_segments(self, person: str) -> list[tuple[float, float, int]]:
        """(t0, t1, FACE|WORK) attention segments covering [t_min, t_max]."""
        rng = self.rng
        segs: list[tuple[float, float, int]] = [(self.t_min - 1.0, 0.0, FACE)]
        steps = self.plan.label_at(
            STEPS.name, np.array([(iv.t_start + iv.t_end) / 2 for iv in self.plan.state_tier])
        )
        points = [a for a in self.plan.activities if a.kind == "point"]
        for iv, step in zip(self.plan.state_tier, steps, strict=True):
            a, b = iv.t_start, iv.t_end
            if iv.label == "silent_work":
                if step == "background":
                    segs.append((a, b, FACE))
                elif person == LEARNER:
                    segs.append((a, b, WORK))
                else:
                    # the instructor watches the work and glances up at the learner now and then
                    t = a
                    nxt = a + rng.uniform(1.0, 3.0)
                    while nxt + 1.2 < b - 0.5:
                        length = rng.uniform(0.6, 1.1)
                        segs += [(t, nxt, WORK), (nxt, nxt + length, FACE)]
                        t = nxt + length
                        nxt = t + rng.uniform(2.0, 5.0)
                    segs.append((t, b, WORK))
            elif iv.label == "instructor_demonstrates":
                segs.append((a, b, WORK))
            elif iv.label == "instructor_explains":
                inside = [p for p in points if a <= p.t_start < b]
                if inside:
                    p = inside[0]
                    segs += [
                        (a, p.t_start, FACE),
                        (p.t_start, p.t_end + 0.2, WORK),
                        (p.t_end + 0.2, b, FACE),
                    ]
                elif person == LEARNER and step != "background" and rng.random() < 0.3:
                    m = (a + b) / 2
                    segs += [(a, m, FACE), (m, b, WORK)]
                else:
                    segs.append((a, b, FACE))
            else:
                segs.append((a, b, FACE))
        segs.append((self.plan.duration_s, self.t_max + 1.0, FACE))
        merged: list[tuple[float, float, int]] = []
        for t0, t1, mode in segs:
            if t1 - t0 <= 1e-9:
                continue
            if merged and (merged[-1][2] == mode or t1 - t0 < 0.3):
                merged[-1] = (merged[-1][0], t1, merged[-1][2])
            else:
                merged.append((t0, t1, mode))
        return merged

    def _attention_signal(self, segments: list[tuple[float, float, int]]) -> np.ndarray:
        """0 = looking at the partner, 1 = at the workspace; smooth head pans of ~0.4 s that
        start 50 ms after the eyes move."""
        starts = np.array([s[0] for s in segments])
        modes = np.array([1.0 if s[2] == WORK else 0.0 for s in segments])
        i = np.clip(np.searchsorted(starts, self._grid - 0.05, side="right") - 1, 0, None)
        target = modes[i]
        width = int(0.4 * GRID_HZ) | 1
        kernel = np.hanning(width + 2)[1:-1]
        kernel /= kernel.sum()
        padded = np.concatenate([np.full(width, target[0]), target, np.full(width, target[-1])])
        # delay by half the kernel so the pan *starts* at the (delayed) switch
        smooth = np.convolve(padded, kernel, mode="same")[width : width + len(target)]
        half = width // 2
        return np.concatenate([np.full(half, smooth[0]), smooth[: len(smooth) - half]])

    def attention(self, person: str, t: float) -> float:
        return float(np.interp(t, self._grid, self._attention[person]))

    def view_matrix(self, wearer: str, t: float) -> np.ndarray:
        """2×3 affine from ``wearer``'s canvas to output frame pixels at ``t``."""
        a = self.attention(wearer, t)
        ph = self._phases[wearer]
        v = L.VIEW_FACE + (L.VIEW_WORK - L.VIEW_FACE) * a
        drift = np.array(
            [9.0 * np.sin(2 * np.pi * t / 9.0 + ph[12]), 4.0 * np.sin(2 * np.pi * t / 7.0 + ph[13])]
        )
        jitter = np.array(
            [
                1.4 * np.sin(2 * np.pi * 0.8 * t + ph[14])
                + 0.6 * np.sin(2 * np.pi * 1.9 * t + ph[15]),
                1.1 * np.sin(2 * np.pi * 0.7 * t + ph[13])
                + 0.5 * np.sin(2 * np.pi * 2.3 * t + ph[12]),
            ]
        )
        roll = np.radians(
            0.8 * np.sin(2 * np.pi * 0.35 * t + ph[11])
            + 0.35 * np.sin(2 * np.pi * 1.1 * t + ph[10])
        )
        v = v + drift + jitter
        c = np.array([L.REF_W / 2.0, L.REF_H / 2.0])
        R = np.array([[np.cos(roll), -np.sin(roll)], [np.sin(roll), np.cos(roll)]])
        M = np.hstack([R, (c - R @ (v + c))[:, None]])
        return M * self.k

    # -- gaze ------------------------------------------------------------------------------------

    def _make_fixations(self, person: str) -> _Fixations:
        rng = self.rng
        t0s, sacs, cats, anchors, idx, offs = [], [], [], [], [], []
        for a, b, mode in self._modes[person]:
            t = a
            while t < b - 1e-9:
                dur = float(rng.uniform(0.2, 0.6))
                if b - (t + dur) < 0.2:
                    dur = b - t  # absorb a too-short remainder
                r = rng.random()
                if mode == FACE:
                    if r < 0.04:
                        cat, anchor = OTHER, A_WALL
                    else:
                        cat = FACE
                        anchor = int(
                            rng.choice(
                                [A_LEFT_EYE, A_RIGHT_EYE, A_NOSE, A_MOUTH], p=[0.35, 0.35, 0.1, 0.2]
                            )
                        )
                    off = rng.normal(0.0, 1.2, 2)
                else:
                    if r < 0.04:
                        cat, anchor = OTHER, A_ITEM
                    else:
                        cat = WORK
                        anchor = int(rng.choice([A_FOCUS, A_HAND, A_TARGET], p=[0.75, 0.15, 0.10]))
                    off = rng.normal(0.0, 0.006, 2)
                t0s.append(t)
                sacs.append(float(rng.uniform(0.03, 0.05)))
                cats.append(cat)
                anchors.append(anchor)
                idx.append(int(rng.integers(6)))
                offs.append(off)
                t += dur
        return _Fixations(
            np.array(t0s),
            np.array(sacs),
            np.array(cats),
            np.array(anchors),
            np.array(idx),
            np.array(offs),
        )

    def _workspace_point(self, t: float, anchor: int) -> np.ndarray:
        act = self._active_any(t)
        if anchor == A_TARGET or act is None:
            step = self.step_at(t)
            return self.geometry.target(step) if step in self.plan.steps else np.zeros(2)
        if anchor == A_HAND:
            return self.hands(act.actor, t)["right"].position
        return self.work_focus(act, t)

    def _anchor(self, wearer: str, f: _Fixations, i: int, t: float) -> tuple[np.ndarray, float]:
        """Canvas point and depth (m) of fixation ``i`` of ``wearer`` at ``t``."""
        anchor = int(f.anchor[i])
        if anchor in _FACE_ANCHOR_FEATURE:
            fx, fy = L.FACE_FEATURES[_FACE_ANCHOR_FEATURE[anchor]]
            c = self.partner_face_center(wearer, t)
            return c + np.array([fx * L.FACE_RX, fy * L.FACE_RY]) + f.offset[i], L.DEPTH_FACE_M
        if anchor == A_WALL:
            return np.array(L.WALL_ANCHORS[f.index[i] % len(L.WALL_ANCHORS)]) + f.offset[
                i
            ], L.DEPTH_WALL_M
        M = L.table_to_canvas_matrix(wearer)
        if anchor == A_ITEM:
            p = np.array(L.TABLE_ITEM_ANCHORS_M[f.index[i] % len(L.TABLE_ITEM_ANCHORS_M)])
            return L.apply_affine(M, p + f.offset[i])[0], L.DEPTH_TABLE_ITEM_M
        return L.apply_affine(M, self._workspace_point(t, anchor) + f.offset[i])[0], L.DEPTH_WORK_M

    def gaze(
        self, wearer: str, times: np.ndarray, width: int, height: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Intended gaze at session ``times``: pixel u, v (output frame), depth (m) and
        category (FACE/WORK/OTHER of the fixation; OTHER during saccades)."""
        f = self._fixations[wearer]
        n = len(times)
        u, v, depth = np.empty(n), np.empty(n), np.empty(n)
        cat = np.empty(n, dtype=np.int64)
        idx = np.clip(np.searchsorted(f.t0, times, side="right") - 1, 0, len(f.t0) - 1)
        margin = 3.0
        for j, (t, i) in enumerate(zip(times, idx, strict=True)):
            M = self.view_matrix(wearer, float(t))
            p, d = self._anchor(wearer, f, i, t)
            into = (t - f.t0[i]) / f.saccade[i]
            if i > 0 and into < 1.0:
                p_prev, d_prev = self._anchor(wearer, f, i - 1, t)
                s = float(smoothstep(into))
                p = p_prev + (p - p_prev) * s
                d = d_prev + (d - d_prev) * s
                cat[j] = OTHER
            else:
                cat[j] = int(f.category[i])
            pix = L.apply_affine(M, p)[0]
            u[j] = np.clip(pix[0], margin, width - 1 - margin)
            v[j] = np.clip(pix[1], margin, height - 1 - margin)
            depth[j] = d
        return u, v, depth, cat

    def partner_face_box(self, wearer: str, t: float, width: int, height: int) -> np.ndarray:
        """[x0, y0, x1, y1] of the partner's face (skin ellipse) in the frame, clipped; NaN when
        less than half of it is in view."""
        c = self.partner_face_center(wearer, t)
        corners = c + np.array(
            [
                [-L.FACE_RX, -L.FACE_RY],
                [L.FACE_RX, -L.FACE_RY],
                [L.FACE_RX, L.FACE_RY],
                [-L.FACE_RX, L.FACE_RY],
            ]
        )
        pix = L.apply_affine(self.view_matrix(wearer, t), corners)
        x0, y0 = pix.min(axis=0)
        x1, y1 = pix.max(axis=0)
        cx0, cy0 = max(x0, 0.0), max(y0, 0.0)
        cx1, cy1 = min(x1, float(width)), min(y1, float(height))
        full = (x1 - x0) * (y1 - y0)
        visible = max(cx1 - cx0, 0.0) * max(cy1 - cy0, 0.0)
        if full <= 0 or visible < 0.5 * full:
            return np.full(4, np.nan)
        return np.array([cx0, cy0, cx1, cy1])

    # -- sounds ----------------------------------------------------------------------------------

    def sound_events(self) -> list[tuple[float, str, float]]:
        """(t, kind, duration s) of work sounds, sorted by time."""
        events: list[tuple[float, str, float]] = []
        for step in self.plan.steps:
            for pa, pb, kind in self.geometry.sounds(step):
                ta = self._time_at_progress(step, pa)
                if ta is None:
                    continue
                tb = self._time_at_progress(step, pb) if pb > pa else ta
                events.append((ta, kind, max((tb or ta) - ta, 0.0)))
        tap = "crease" if type(self.geometry).__name__ == "PaperFolding" else "tap"
        for act in self._all_activities:
            if act.kind == "adjust" or (
                act.kind == "demo" and self.geometry.demo_share(act.step) == 0.0
            ):
                count = int(self.rng.integers(1, 4))
                for t in np.sort(
                    self.rng.uniform(
                        act.t_start + 0.5, max(act.t_end - 0.3, act.t_start + 0.6), size=count
                    )
                ):
                    events.append((float(t), tap, 0.0))
        return sorted(events)

"""Camera models that put Aria eye gaze onto a head camera's image.

Gaze from Project Aria MPS is given as yaw/pitch in the Central Pupil Frame (CPF): the gaze
direction is ``[tan(yaw), tan(pitch), 1]`` and the gazed-at point is that direction scaled to the
gaze depth. To draw it on an image the point goes CPF → camera frame (``T_camera_cpf``, a rigid
4×4 transform) → pixels (the camera's projection model).

Camera frame convention: OpenCV's, +x right, +y down, +z forward. Pixel (0, 0) is the centre of
the top-left pixel.

Two projection models are supported:

* ``pinhole``: params ``[fx, fy, cx, cy]``.
* ``fisheye624``: Aria's FisheyeRadTanThinPrism model, params
  ``[f, cx, cy, k0..k5, p0, p1, s0..s3]`` (15 values, one focal length), as exported in Aria
  device calibration.

A calibration is stored as JSON (see :meth:`CameraModel.to_json`); the demo generator writes one
per head camera and the gaze stage reads it back, so the two always agree. An Aria recording's
own factory calibration is read from its VRS file (:func:`camera_from_vrs`, projectaria-tools).

Images turned by an exporter (projectaria-tools' ``vrs_to_mp4`` turns Aria Gen 1 frames 90°
clockwise) keep the sensor's calibration plus ``rotation_cw``: pixels are projected on the
sensor, then turned, so the distortion model stays the sensor's own.

Gaze depth is always the distance from the CPF origin along the gaze ray (as MPS ``depth_m`` and
:func:`gaze_point_cpf` use it). From the per-eye yaws, :func:`vergence_distance` gives that
distance; :func:`vergence_z_m` gives the CPF z of the crossing point, which is not a depth.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from egoinstruct.errors import InputError

PARAM_COUNTS = {"pinhole": 4, "fisheye624": 15}
ROTATIONS = (0, 90, 180, 270)


@dataclass(frozen=True)
class CameraModel:
    """A calibrated camera: projection model, image size and its pose relative to the CPF."""

    model: str
    width: int  # of the image the model's pixels are in (after rotation_cw)
    height: int
    params: tuple[float, ...]  # of the sensor, before rotation_cw
    T_camera_cpf: np.ndarray = field(default_factory=lambda: np.eye(4))
    # The image is the sensor's rotated clockwise by this many degrees: projectaria-tools'
    # vrs_to_mp4 turns Aria Gen 1 frames upright (90), which the calibration does not know.
    rotation_cw: int = 0
    device: str | None = None  # e.g. aria_gen1, when the calibration says which device it describes

    def __post_init__(self) -> None:
        if self.rotation_cw not in ROTATIONS:
            raise InputError(f"rotation_cw must be one of {', '.join(map(str, ROTATIONS))} (degrees), got {self.rotation_cw!r}")
        if self.model not in PARAM_COUNTS:
            raise InputError(
                f"unknown camera model {self.model!r}; expected one of {sorted(PARAM_COUNTS)}"
            )
        if len(self.params) != PARAM_COUNTS[self.model]:
            raise InputError(
                f"camera model {self.model!r} takes {PARAM_COUNTS[self.model]} parameters, "
                f"got {len(self.params)}"
            )
        T = np.asarray(self.T_camera_cpf, dtype=np.float64)
        if T.shape != (4, 4):
            raise InputError(f"T_camera_cpf must be a 4x4 matrix, got shape {T.shape}")
        object.__setattr__(self, "T_camera_cpf", T)

    # -- geometry -------------------------------------------------------------------------

    def cpf_to_camera(self, points_cpf: np.ndarray) -> np.ndarray:
        """Transform points ``[N, 3]`` from the CPF into the camera frame."""
        p = np.asarray(points_cpf, dtype=np.float64).reshape(-1, 3)
        return p @ self.T_camera_cpf[:3, :3].T + self.T_camera_cpf[:3, 3]

    def camera_to_cpf(self, points_camera: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`cpf_to_camera`."""
        p = np.asarray(points_camera, dtype=np.float64).reshape(-1, 3)
        R = self.T_camera_cpf[:3, :3]
        return (p - self.T_camera_cpf[:3, 3]) @ R

    def project(self, points_camera: np.ndarray) -> np.ndarray:
        """Pixels ``[N, 2]`` of camera-frame points ``[N, 3]``; NaN for points behind the camera."""
        p = np.asarray(points_camera, dtype=np.float64).reshape(-1, 3)
        x, y, z = p[:, 0], p[:, 1], p[:, 2]
        out = np.full((len(p), 2), np.nan)
        front = z > 1e-9
        if self.model == "pinhole":
            fx, fy, cx, cy = self.params
            out[front, 0] = fx * x[front] / z[front] + cx
            out[front, 1] = fy * y[front] / z[front] + cy
        else:
            out[front] = self._project_fisheye624(x[front] / z[front], y[front] / z[front])
        return self._sensor_to_image(out)

    @property
    def sensor_size(self) -> tuple[int, int]:
        """(width, height) of the sensor image, before ``rotation_cw``."""
        return (self.height, self.width) if self.rotation_cw in (90, 270) else (self.width, self.height)

    def _sensor_to_image(self, uv: np.ndarray) -> np.ndarray:
        """Sensor pixels to image pixels (turned clockwise by ``rotation_cw``)."""
        if self.rotation_cw == 0:
            return uv
        w, h = self.sensor_size
        u, v = uv[:, 0], uv[:, 1]
        turned = {90: (h - 1 - v, u), 180: (w - 1 - u, h - 1 - v), 270: (v, w - 1 - u)}[self.rotation_cw]
        return np.stack(turned, axis=1)

    def _image_to_sensor(self, uv: np.ndarray) -> np.ndarray:
        if self.rotation_cw == 0:
            return uv
        w, h = self.sensor_size
        u, v = uv[:, 0], uv[:, 1]
        back = {90: (v, h - 1 - u), 180: (w - 1 - u, h - 1 - v), 270: (w - 1 - v, u)}[self.rotation_cw]
        return np.stack(back, axis=1)

    def rotated_cw(self, degrees: int) -> CameraModel:
        """The same camera for its images turned clockwise by ``degrees`` (a multiple of 90)."""
        rotation = (self.rotation_cw + degrees) % 360
        w, h = (self.height, self.width) if degrees % 180 else (self.width, self.height)
        return CameraModel(self.model, w, h, self.params, self.T_camera_cpf, rotation, self.device)

    def _project_fisheye624(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        f, cx, cy = self.params[:3]
        k = self.params[3:9]
        p0, p1 = self.params[9:11]
        s0, s1, s2, s3 = self.params[11:15]
        r = np.hypot(a, b)
        theta = np.arctan(r)
        theta2 = theta * theta
        radial = np.ones_like(theta)
        power = np.ones_like(theta)
        for coefficient in k:
            power = power * theta2
            radial = radial + coefficient * power
        # theta * radial / r, with its limit 1 at the optical axis
        scale = np.where(r > 1e-12, theta * radial / np.where(r > 1e-12, r, 1.0), 1.0)
        xr, yr = scale * a, scale * b
        rsq = xr * xr + yr * yr
        tangential = 2.0 * (xr * p0 + yr * p1)
        u = xr * (1.0 + tangential) + rsq * p0 + s0 * rsq + s1 * rsq * rsq
        v = yr * (1.0 + tangential) + rsq * p1 + s2 * rsq + s3 * rsq * rsq
        return np.stack([f * u + cx, f * v + cy], axis=1)

    def unproject(self, pixels: np.ndarray) -> np.ndarray:
        """Unit rays ``[N, 3]`` in the camera frame through pixels ``[N, 2]``.

        Exact for ``pinhole``; for ``fisheye624`` solved by Gauss-Newton on the projection
        (sub-micropixel within the calibrated field of view; NaN rays for pixels outside it).
        """
        uv = self._image_to_sensor(np.asarray(pixels, dtype=np.float64).reshape(-1, 2))
        if self.model == "pinhole":
            fx, fy, cx, cy = self.params
            rays = np.stack(
                [(uv[:, 0] - cx) / fx, (uv[:, 1] - cy) / fy, np.ones(len(uv))], axis=1
            )
        else:
            f, cx, cy = self.params[:3]
            ab = np.stack([(uv[:, 0] - cx) / f, (uv[:, 1] - cy) / f], axis=1)  # initial guess
            active = np.ones(len(uv), dtype=bool)
            for _ in range(50):
                projected = self._project_fisheye624(ab[active, 0], ab[active, 1])
                residual = projected - uv[active]
                done = np.abs(residual).max(axis=1) < 1e-9
                eps = 1e-7
                da = (self._project_fisheye624(ab[active, 0] + eps, ab[active, 1]) - projected) / eps
                db = (self._project_fisheye624(ab[active, 0], ab[active, 1] + eps) - projected) / eps
                jac = np.stack([da, db], axis=2)  # [N, 2 (uv), 2 (ab)]
                # A (near-)singular Jacobian means the pixel is outside the model's valid field.
                singular = np.abs(np.linalg.det(jac)) < 1e-12
                step = np.zeros_like(residual)
                ok = ~done & ~singular
                step[ok] = np.linalg.solve(jac[ok], residual[ok][:, :, None])[:, :, 0]
                index = np.flatnonzero(active)
                ab[index] -= step
                ab[index[singular & ~done]] = np.nan
                active[index[done | singular]] = False
                if not active.any():
                    break
            ab[active] = np.nan  # did not converge: outside the calibrated field of view
            rays = np.stack([ab[:, 0], ab[:, 1], np.ones(len(uv))], axis=1)
        return rays / np.linalg.norm(rays, axis=1, keepdims=True)

    def in_frame(self, pixels: np.ndarray) -> np.ndarray:
        """True where a pixel lies inside the image (NaN pixels are outside)."""
        uv = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
        with np.errstate(invalid="ignore"):
            return (
                (uv[:, 0] >= -0.5)
                & (uv[:, 0] < self.width - 0.5)
                & (uv[:, 1] >= -0.5)
                & (uv[:, 1] < self.height - 0.5)
            )

    # -- gaze -----------------------------------------------------------------------------

    def project_gaze(self, yaw: np.ndarray, pitch: np.ndarray, depth_m: np.ndarray) -> np.ndarray:
        """Pixels ``[N, 2]`` of the gazed-at points given CPF yaw/pitch (rad) and depth (m)."""
        return self.project(self.cpf_to_camera(gaze_point_cpf(yaw, pitch, depth_m)))

    def gaze_for_pixel(
        self, pixels: np.ndarray, depth_m: np.ndarray | float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Yaw and pitch (rad, CPF) that look at the scene point seen at ``pixels`` whose
        distance from the CPF origin is ``depth_m``. The inverse of :meth:`project_gaze`."""
        rays_cam = self.unproject(pixels)
        origin_cpf = self.camera_to_cpf(np.zeros((1, 3)))[0]
        dirs_cpf = rays_cam @ self.T_camera_cpf[:3, :3]  # rotate rays into the CPF
        depth = np.broadcast_to(np.asarray(depth_m, dtype=np.float64), (len(rays_cam),))
        # Find s so that |origin + s*dir| = depth: the point at that distance from the CPF.
        b = dirs_cpf @ origin_cpf
        c = origin_cpf @ origin_cpf - depth**2
        s = -b + np.sqrt(np.maximum(b * b - c, 0.0))
        points = origin_cpf + s[:, None] * dirs_cpf
        return yaw_pitch_from_point_cpf(points)

    def scaled(self, width: int, height: int) -> CameraModel:
        """The same camera for an image resized to ``width`` × ``height`` (e.g. a downscaled MP4
        export of a full-resolution calibration). Focal lengths and principal point scale; the
        distortion coefficients act on normalised coordinates and stay. Pixel centres are kept
        consistent (``u' = (u + 0.5)·s − 0.5``).
        """
        if (width, height) == (self.width, self.height):
            return self
        sx, sy = width / self.width, height / self.height
        if self.rotation_cw in (90, 270):
            sx, sy = sy, sx  # the sensor's axes are the image's, swapped
        if self.model == "pinhole":
            fx, fy, cx, cy = self.params
            params: tuple[float, ...] = (fx * sx, fy * sy, (cx + 0.5) * sx - 0.5, (cy + 0.5) * sy - 0.5)
        else:
            if abs(sx - sy) > 1e-3 * max(sx, sy):
                raise InputError(
                    f"a fisheye624 calibration of {self.width}x{self.height} cannot describe a "
                    f"{width}x{height} image (the aspect ratio changed; the model has one focal "
                    "length); calibrate the exported video or export it without changing the aspect"
                )
            f, cx, cy = self.params[:3]
            params = (f * sx, (cx + 0.5) * sx - 0.5, (cy + 0.5) * sy - 0.5, *self.params[3:])
        return CameraModel(self.model, width, height, params, self.T_camera_cpf, self.rotation_cw, self.device)

    # -- storage --------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "width": self.width,
            "height": self.height,
            "params": list(self.params),
            "T_camera_cpf": self.T_camera_cpf.tolist(),
            **({"rotation_cw": self.rotation_cw} if self.rotation_cw else {}),
            **({"device": self.device} if self.device else {}),
        }

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_dict(cls, data: dict, source: str | Path = "camera model") -> CameraModel:
        """A camera from the calibration JSON layout (also used for ``gaze.camera`` in the
        config); ``source`` names where it came from in error messages."""
        if not isinstance(data, dict):
            raise InputError(f"{source}: a camera calibration must be a mapping, got {type(data).__name__}")
        missing = [k for k in ("model", "width", "height", "params") if k not in data]
        if missing:
            raise InputError(
                f"{source}: camera calibration lacks {', '.join(missing)}; expected keys "
                "model, width, height, params and optionally T_camera_cpf (4x4), rotation_cw, device"
            )
        try:
            return cls(
                model=data["model"],
                width=int(data["width"]),
                height=int(data["height"]),
                params=tuple(float(v) for v in data["params"]),
                T_camera_cpf=np.asarray(data.get("T_camera_cpf", np.eye(4)), dtype=np.float64),
                rotation_cw=int(data.get("rotation_cw", 0)),
                device=str(data["device"]) if data.get("device") else None,
            )
        except InputError as exc:
            raise InputError(f"{source}: {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise InputError(f"{source}: camera calibration has a value of the wrong type ({exc})") from exc

    @classmethod
    def from_json(cls, path: str | Path) -> CameraModel:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: cannot read camera calibration: {exc}") from exc
        return cls.from_dict(data, path)


def read_calibration(path: str | Path) -> CameraModel:
    """A head camera's calibration file (sample-sheet kind ``calibration``): a camera-model JSON,
    or an Aria VRS, whose RGB camera's factory calibration is taken."""
    from egoinstruct.media.reader import is_vrs  # media imports this module

    return camera_from_vrs(path) if is_vrs(path) else CameraModel.from_json(path)


def camera_from_vrs(path: str | Path, stream_label: str = "camera-rgb") -> CameraModel:
    """The factory calibration of an Aria recording's RGB camera, read from its VRS file
    (:meth:`egoinstruct.media.vrs.VrsReader.camera`): the camera's native FisheyeRadTanThinPrism
    (``fisheye624``) at the sensor resolution, ``T_camera_cpf`` from the device's CPF, and
    ``device`` naming the Aria generation (use :meth:`CameraModel.scaled` for a resized export,
    :meth:`CameraModel.rotated_cw` for a turned one)."""
    from egoinstruct.media.vrs import VrsReader, camera_from_provider  # media imports this module

    reader = VrsReader(path)
    return camera_from_provider(reader.provider, path, stream_label)


def gaze_point_cpf(yaw: np.ndarray, pitch: np.ndarray, depth_m: np.ndarray | float) -> np.ndarray:
    """Gazed-at points ``[N, 3]`` in the CPF: unit ``[tan(yaw), tan(pitch), 1]`` times depth."""
    yaw = np.atleast_1d(np.asarray(yaw, dtype=np.float64))
    pitch = np.atleast_1d(np.asarray(pitch, dtype=np.float64))
    direction = np.stack([np.tan(yaw), np.tan(pitch), np.ones_like(yaw)], axis=1)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    depth = np.broadcast_to(np.asarray(depth_m, dtype=np.float64), yaw.shape)
    return direction * depth[:, None]


def yaw_pitch_from_point_cpf(points_cpf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Yaw and pitch (rad) of CPF points ``[N, 3]`` (points must lie in front, z > 0)."""
    p = np.asarray(points_cpf, dtype=np.float64).reshape(-1, 3)
    return np.arctan2(p[:, 0], p[:, 2]), np.arctan2(p[:, 1], p[:, 2])


def vergence_z_m(
    left_yaw: np.ndarray,
    right_yaw: np.ndarray,
    left_eye_x_m: np.ndarray,
    right_eye_x_m: np.ndarray,
    left_eye_z_m: np.ndarray | float = 0.0,
    right_eye_z_m: np.ndarray | float = 0.0,
) -> np.ndarray:
    """CPF **z** (m, forward) where the left and right gaze rays cross in the horizontal plane.

    This is *not* a gaze depth: :meth:`CameraModel.project_gaze` and :func:`gaze_point_cpf`
    take the distance along the gaze ray, which :func:`vergence_distance` returns.

    Each eye at CPF ``(x_e, z_e)`` looks along ``x = x_e + (z − z_e)·tan(yaw)``; equating the two
    gives ``z = (x_r − x_l + z_l·tan(yaw_l) − z_r·tan(yaw_r)) / (tan(yaw_l) − tan(yaw_r))``. NaN
    where the rays are parallel or diverge (no crossing in front of the wearer).
    """
    tl, tr = np.tan(np.asarray(left_yaw, float)), np.tan(np.asarray(right_yaw, float))
    zl, zr = np.asarray(left_eye_z_m, float), np.asarray(right_eye_z_m, float)
    numerator = np.asarray(right_eye_x_m, float) - np.asarray(left_eye_x_m, float) + zl * tl - zr * tr
    with np.errstate(divide="ignore", invalid="ignore"):
        z = numerator / (tl - tr)
    return np.where(np.isfinite(z) & (z > 0), z, np.nan)


def vergence_distance(
    left_yaw: np.ndarray,
    right_yaw: np.ndarray,
    left_eye_x_m: np.ndarray,
    right_eye_x_m: np.ndarray,
    *,
    yaw: np.ndarray,
    pitch: np.ndarray,
    left_eye_z_m: np.ndarray | float = 0.0,
    right_eye_z_m: np.ndarray | float = 0.0,
) -> np.ndarray:
    """Gaze depth (m) from vergence: the distance from the CPF origin, along the combined gaze
    direction ``(yaw, pitch)``, to the plane where the two eyes' rays cross.

    This is the depth that :meth:`CameraModel.project_gaze` and :func:`gaze_point_cpf` take (and
    that MPS writes as ``depth_m``): the crossing's CPF z (:func:`vergence_z_m`) scaled by
    ``‖(tan yaw, tan pitch, 1)‖``. ``yaw`` and ``pitch`` are keyword-only so a call cannot
    silently leave them out. NaN where the rays do not cross in front of the wearer.
    """
    z = vergence_z_m(left_yaw, right_yaw, left_eye_x_m, right_eye_x_m, left_eye_z_m, right_eye_z_m)
    ty, tp = np.tan(np.asarray(yaw, float)), np.tan(np.asarray(pitch, float))
    return z * np.sqrt(1.0 + ty * ty + tp * tp)

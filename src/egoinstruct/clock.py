"""The session clock of one device: how its own time maps onto the session's.

Every stage after synchronisation needs the same three numbers for a device — its offset and
drift, and the session's length — and the same two conversions. They come from the session's
``sync.json`` (the sync stage's clocks, checked against each other across devices);
:class:`DeviceClock` holds them, is read once by :meth:`DeviceClock.read` and is passed by name,
so an offset can never be swapped with a duration.

Convention (:mod:`egoinstruct.sync`): ``t_session = offset_s + t_device · (1 + drift_ppm·1e-6)``;
the reference device has offset 0 and no drift, so t = 0 is its first frame; the session lasts
``[0, session_duration_s)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from egoinstruct.errors import InputError


@dataclass(frozen=True)
class Span:
    """A stretch of the session clock, ``[start, end)`` in seconds."""

    start: float
    end: float

    @property
    def length(self) -> float:
        return max(0.0, self.end - self.start)

    def intersect(self, other: Span) -> Span:
        return Span(max(self.start, other.start), min(self.end, other.end))


@dataclass(frozen=True)
class DeviceClock:
    """One device on the session clock (see the module docstring)."""

    device: str
    offset_s: float
    drift_ppm: float
    session_duration_s: float

    @property
    def scale(self) -> float:
        """Session seconds per device second."""
        return 1.0 + self.drift_ppm * 1e-6

    def to_session(self, t_device: Any) -> Any:
        """Session time of device time (a number, or an array of them)."""
        return _like(t_device, self.offset_s + np.asarray(t_device, dtype=np.float64) * self.scale)

    def to_device(self, t_session: Any) -> Any:
        """Device time of session time (a number, or an array of them)."""
        return _like(t_session, (np.asarray(t_session, dtype=np.float64) - self.offset_s) / self.scale)

    def from_capture_us(self, timestamps_us: np.ndarray, capture_start_us: int) -> np.ndarray:
        """Session time of device capture timestamps (µs), given the capture time of device t = 0."""
        # Subtract in integers first: µs since boot reach 1e11, where float64 keeps only ~10 µs.
        t_device = (np.asarray(timestamps_us, dtype=np.int64) - np.int64(capture_start_us)) / 1e6
        return self.offset_s + t_device * self.scale

    @property
    def session(self) -> Span:
        return Span(0.0, self.session_duration_s)

    def recording(self, device_duration_s: float) -> Span:
        """Where a recording of ``device_duration_s`` (device seconds from t = 0) lies on the session clock."""
        return Span(self.offset_s, self.offset_s + device_duration_s * self.scale)

    def no_overlap(self, source: str | Path) -> InputError:
        """The error for a recording with nothing inside the session."""
        return InputError(
            f"{source}: no frame falls inside the session (offset {self.offset_s:+.3f} s, session "
            f"{self.session_duration_s:.3f} s); the device does not overlap the reference recording"
        )

    def metadata(self) -> dict[str, str]:
        """The clock as table metadata (exact floats)."""
        return {"offset_s": repr(self.offset_s), "drift_ppm": repr(self.drift_ppm),
                "session_duration_s": repr(self.session_duration_s)}

    @classmethod
    def read(cls, sync_json: str | Path, device: str) -> DeviceClock:
        """The clock of ``device`` from the session's ``sync.json``."""
        sync = _read(sync_json)
        try:
            clock = sync["devices"][device]
            return cls(device=device, offset_s=float(clock["offset_s"]), drift_ppm=float(clock.get("drift_ppm") or 0.0),
                       session_duration_s=float(sync["session_duration_s"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{sync_json}: no clock of device {device} in it ({exc!r}); it is the sync_session rule's "
                             "output — rerun the workflow") from exc


def _like(given: Any, value: np.ndarray) -> Any:
    return float(value) if np.ndim(given) == 0 else value


def _read(path: str | Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise InputError(f"{path}: not found; it is an output of an earlier rule — rerun the workflow") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); delete it and rerun the rule that writes it") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    return data

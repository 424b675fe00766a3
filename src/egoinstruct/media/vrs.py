"""Raw Project Aria recordings (VRS) through projectaria-tools: frames, audio, clock, calibration.

What is read, with no export step (stream labels as projectaria-tools names them):

* ``camera-rgb`` (stream 214-1): every frame with its capture timestamp on the device clock
  (Gen 1: 1408×1408 or 2880×2880 JPEG; Gen 2: 2016×1512 H.265). Frame timing follows the
  timestamps, which need not be regular. Frames are decoded only when a stage asks for the image
  (:meth:`VrsFrame.to_bgr`), so a stage that samples 2 of 20 frames per second decodes 2.
* ``mic`` (stream 231-1): records of interleaved samples (Gen 1: 7 channels, 48 kHz, int32;
  Gen 2: 8 channels, 16 kHz, possibly compressed — decoded by projectaria-tools) with one device
  timestamp per sample. The device audio mixes the channels in ``channels`` (see
  :data:`DEFAULT_CHANNELS` for which and why) and places every record by its own timestamps, so
  the audio stays on the device clock even if the microphone's sample clock drifts or records
  are missing.
* the factory calibration of ``camera-rgb`` (:meth:`VrsReader.camera`), for gaze projection;
* the device clock: device time 0 is the first RGB frame's capture time
  (:attr:`MediaInfo.device_clock_start_us`, ``clock_source: vrs``) — the clock MPS eye gaze and
  trajectories are timestamped on.

A VRS without the RGB stream, or without the microphone, is reported by :meth:`VrsReader.info`
(``video`` or ``audio`` is None); the probe decides what that means for the device.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from egoinstruct.camera import PARAM_COUNTS, CameraModel
from egoinstruct.errors import InputError, MissingModelError
from egoinstruct.media.reader import (
    VRS_MAGIC,
    AudioInfo,
    DecodedAudio,
    MediaInfo,
    MediaReader,
    VideoInfo,
)

log = logging.getLogger(__name__)

RGB_LABEL = "camera-rgb"
MIC_LABEL = "mic"

# Which microphone channels the device audio mixes, per Aria generation (None: all of them).
# Gen 1: channels 0 and 2, the pair projectaria-tools' vrs_to_mp4 exports, so a raw recording and
# its export give the same device audio; averaging two capsules halves their independent noise.
# Which capsule is behind which channel is not documented in the sources this project has; Gen 2
# mixes all eight for the same reason. Configurable: media.aria_mic_channels (config.yaml).
DEFAULT_CHANNELS: dict[str, tuple[int, ...] | None] = {"gen1": (0, 2), "gen2": None}

# A record that starts this many samples away from where its timestamps say is re-placed
# (gap filled with silence, overlap dropped); smaller differences are timestamp jitter.
REALIGN_SAMPLES = 2


def _projectaria() -> Any:
    try:
        from projectaria_tools.core import data_provider
    except ImportError as exc:  # pragma: no cover - part of the pinned environment
        raise MissingModelError(
            "reading Aria VRS files needs projectaria-tools, which is not installed; run ./setup.sh "
            "(it installs requirements/aria.txt without extras), or export the recording with "
            "vrs_to_mp4 and list the MP4 with kind video"
        ) from exc
    return data_provider


@contextmanager
def native_output_to_log() -> Iterator[Callable[[], list[str]]]:
    """Send what the C++ library prints while opening a file (a dozen coloured INFO lines per
    stream) to this module's debug log instead of the terminal; yields a function returning
    those lines, for error messages."""
    lines: list[str] = []
    with tempfile.TemporaryFile(mode="w+b") as sink:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [os.dup(1), os.dup(2)]
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield lambda: lines
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            text = re.sub(r"\x1b\[[0-9;]*m", "", sink.read().decode("utf-8", "replace"))
            lines.extend(line.strip() for line in text.splitlines() if line.strip())
            for line in lines:
                log.debug("projectaria-tools: %s", line)


@dataclass(frozen=True)
class VrsFrame:
    """One RGB frame of a VRS, decoded on demand."""

    provider: Any
    stream: Any
    index: int
    width: int
    height: int

    def to_bgr(self) -> np.ndarray:
        image, _ = self.provider.get_image_data_by_index(self.stream, self.index)
        array = image.to_numpy_array()
        if array.ndim == 2:
            return cv2.cvtColor(array, cv2.COLOR_GRAY2BGR)
        return cv2.cvtColor(array, cv2.COLOR_RGB2BGR)


class VrsReader(MediaReader):
    """A raw Aria recording (see the module docstring)."""

    def __init__(self, path: str | Path, where: str = "",
                 channels: Mapping[str, Sequence[int] | None] | None = None) -> None:
        self.path = Path(path)
        self.paths = (self.path,)
        self.where = where
        self.channel_choice = {**DEFAULT_CHANNELS, **{k: (tuple(v) if v is not None else None)
                                                      for k, v in (channels or {}).items()}}

    @cached_property
    def provider(self) -> Any:
        from egoinstruct.media.probe import check_file

        check_file(self.path, self.where)
        with self.path.open("rb") as handle:
            # projectaria-tools opens any file as an empty recording; VRS files start with this signature.
            signed = handle.read(len(VRS_MAGIC)) == VRS_MAGIC
        data_provider = _projectaria()
        provider = None
        said: Callable[[], list[str]] = list
        if signed:
            with native_output_to_log() as said:
                provider = data_provider.create_vrs_data_provider(str(self.path))
        if provider is None:
            detail = "; ".join(line for line in said() if "rror" in line)[-300:]
            raise InputError(
                f"{self.prefix}{self.path}: projectaria-tools cannot open it as a VRS recording (not a VRS "
                "file, or its header or index is damaged"
                + (f": {detail}" if detail else "")
                + "); copy the recording from the glasses or the Aria app again"
            )
        return provider

    def _stream(self, label: str) -> Any | None:
        provider = self.provider  # outside the try: its InputError must not read as "no such stream"
        try:
            stream = provider.get_stream_id_from_label(label)
        except (RuntimeError, ValueError):
            return None
        if stream is None or not self.provider.check_stream_is_active(stream):
            return None
        if self.provider.get_num_data(stream) == 0:
            # The stream's configuration was written but none of its records: the recording or
            # the copy stopped early (VRS writes records as they come and its index last).
            raise InputError(
                f"{self.prefix}{self.path}: the {label} stream ({stream}) is there but holds no records: the file "
                "was cut short (an interrupted copy or recording); copy it again"
            )
        return stream

    @cached_property
    def rgb(self) -> Any | None:
        return self._stream(RGB_LABEL)

    @cached_property
    def mic(self) -> Any | None:
        return self._stream(MIC_LABEL)

    @cached_property
    def generation(self) -> str:
        """``gen1`` or ``gen2`` (the device version the recording's calibration states)."""
        version = generation_name(self.provider.get_device_version())
        return version if version in DEFAULT_CHANNELS else "gen1"

    @cached_property
    def frame_timestamps_ns(self) -> np.ndarray:
        """Capture timestamps (ns, device clock) of every RGB frame, from the index (no decoding)."""
        if self.rgb is None:
            return np.zeros(0, np.int64)
        from projectaria_tools.core.sensor_data import TimeDomain

        return np.asarray(self.provider.get_timestamps_ns(self.rgb, TimeDomain.DEVICE_TIME), dtype=np.int64)

    @cached_property
    def clock_start_ns(self) -> int:
        """Capture time of device time 0: the first RGB frame (the first audio sample without RGB)."""
        if len(self.frame_timestamps_ns):
            return int(self.frame_timestamps_ns[0])
        if self.mic is not None:
            _, record = self.provider.get_audio_data_by_index(self.mic, 0)
            return int(record.capture_timestamps_ns[0])
        raise self._no_streams()

    def _no_streams(self) -> InputError:
        return InputError(
            f"{self.prefix}{self.path}: the VRS has neither an RGB camera ({RGB_LABEL}, 214-1) nor a "
            f"microphone ({MIC_LABEL}, 231-1) stream; record with a profile that includes them"
        )

    def channels_used(self, n_channels: int) -> tuple[int, ...]:
        chosen = self.channel_choice.get(self.generation)
        if chosen is None:
            return tuple(range(n_channels))
        bad = [c for c in chosen if not 0 <= c < n_channels]
        if bad:
            raise InputError(
                f"{self.prefix}{self.path}: media.aria_mic_channels.{self.generation} asks for channel(s) "
                f"{bad}, but this {self.generation.replace('gen', 'Gen ')} recording has {n_channels} "
                f"microphone channels (0…{n_channels - 1}); fix the config"
            )
        return tuple(chosen)

    # -- facts ----------------------------------------------------------------------------

    def _video_info(self) -> VideoInfo | None:
        if self.rgb is None:
            return None
        config = self.provider.get_image_configuration(self.rgb)
        ts = self.frame_timestamps_ns
        fps = float(self.provider.get_nominal_rate_hz(self.rgb)) or None
        period = 1.0 / fps if fps else float(np.median(np.diff(ts)) / 1e9) if len(ts) > 1 else 0.0
        codec = "h265" if self.generation == "gen2" else "jpeg"
        return VideoInfo(codec=codec, width=int(config.image_width), height=int(config.image_height), fps=fps,
                         n_frames=int(len(ts)), start_s=0.0,
                         duration_s=float((ts[-1] - ts[0]) / 1e9 + period) if len(ts) else None)

    def _audio_info(self) -> AudioInfo | None:
        if self.mic is None:
            return None
        config = self.provider.get_audio_configuration(self.mic)
        _, first = self.provider.get_audio_data_by_index(self.mic, 0)
        _, last = self.provider.get_audio_data_by_index(self.mic, self.provider.get_num_data(self.mic) - 1)
        rate = int(config.sample_rate)
        start_ns, end_ns = int(first.capture_timestamps_ns[0]), int(last.capture_timestamps_ns[-1])
        return AudioInfo(codec=f"vrs_audio_format_{int(config.sample_format)}", sample_rate_hz=rate,
                         channels=int(config.num_channels), layout=f"{int(config.num_channels)} microphones",
                         start_s=(start_ns - self.clock_start_ns) / 1e9,
                         duration_s=(end_ns - start_ns) / 1e9 + 1.0 / rate,
                         channels_used=self.channels_used(int(config.num_channels)))

    def info(self, check_whole: bool = True) -> MediaInfo:
        video, audio = self._video_info(), self._audio_info()
        if video is None and audio is None:
            raise self._no_streams()
        ends = [v for v in ((video.duration_s if video else None),
                            (audio.start_s + audio.duration_s) if audio and audio.duration_s else None) if v]
        metadata = self.provider.get_metadata()
        details: dict[str, Any] = {
            "device": {
                "generation": self.generation,
                "serial": str(getattr(metadata, "device_serial", "")),
                "recording_profile": str(getattr(metadata, "recording_profile", "")),
            },
            "streams": {
                "rgb": str(self.rgb) if self.rgb is not None else None,
                "mic": str(self.mic) if self.mic is not None else None,
            },
        }
        if check_whole:
            self._check_whole()
        return MediaInfo(path=str(self.path), container="vrs", duration_s=max(ends) if ends else None,
                         video=video, audio=audio, tags={}, device_clock_start_us=self.clock_start_ns // 1000,
                         clock_source="vrs", details=details)

    def _check_whole(self) -> None:
        """The first and last RGB frame decode (a cut-short copy fails here, not in a later stage)."""
        if self.rgb is None:
            return
        for index in {0, len(self.frame_timestamps_ns) - 1}:
            image, _ = self.provider.get_image_data_by_index(self.rgb, index)
            if not image.is_valid():
                raise InputError(
                    f"{self.prefix}{self.path}: RGB frame {index} of {len(self.frame_timestamps_ns)} cannot be "
                    "decoded: the recording is damaged or was cut short; copy it again"
                )

    # -- data -----------------------------------------------------------------------------

    def frames(self, threads: int = 1) -> Iterator[tuple[float, VrsFrame]]:
        if self.rgb is None:
            raise InputError(
                f"{self.prefix}{self.path}: the VRS has no RGB camera stream ({RGB_LABEL}, 214-1), so it has no "
                "video frames; record with a profile that includes the RGB camera, or list it with kind audio"
            )
        config = self.provider.get_image_configuration(self.rgb)
        width, height = int(config.image_width), int(config.image_height)
        start = self.clock_start_ns
        for index, ts in enumerate(self.frame_timestamps_ns):
            yield (int(ts) - start) / 1e9, VrsFrame(self.provider, self.rgb, index, width, height)

    def audio(self, sample_rate_hz: int) -> DecodedAudio | None:
        if self.mic is None:
            return None
        config = self.provider.get_audio_configuration(self.mic)
        rate, n_channels = int(config.sample_rate), int(config.num_channels)
        channels = list(self.channels_used(n_channels))
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate_hz)
        chunks: list[np.ndarray] = []
        written = 0  # native-rate samples handed to the resampler; sample n is device time n / rate
        first_ns: int | None = None
        realigned = 0

        def feed(samples: np.ndarray) -> None:
            frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate = rate
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))

        for index in range(self.provider.get_num_data(self.mic)):
            data, record = self.provider.get_audio_data_by_index(self.mic, index)
            stamps = record.capture_timestamps_ns
            raw = np.asarray(data.data, dtype=np.int64)
            if not len(stamps) or raw.size == 0:
                continue
            if raw.size != len(stamps) * n_channels:
                raise InputError(
                    f"{self.prefix}{self.path}: microphone record {index} holds {raw.size} values for "
                    f"{len(stamps)} timestamps × {n_channels} channels: the recording is damaged"
                )
            mono = (raw.reshape(-1, n_channels)[:, channels].mean(axis=1) / float(data.max_amplitude)).astype(np.float32)
            if first_ns is None:
                first_ns = int(stamps[0])
            # Where the record's first sample belongs on the native-rate grid of the device clock:
            # fill a gap with silence, drop an overlap; jitter of a sample or two is left alone.
            position = int(round((int(stamps[0]) - self.clock_start_ns) / 1e9 * rate))
            if abs(position - written) > REALIGN_SAMPLES:
                realigned += index > 0
                if position > written:
                    feed(np.zeros(position - written, np.float32))
                    written = position
                else:
                    mono = mono[written - position:]
            if mono.size:
                feed(mono)
                written += mono.size
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
        if first_ns is None:
            return None
        if realigned:
            log.info("%s: %d microphone records re-placed by their timestamps (gaps or clock drift)", self.path, realigned)
        return DecodedAudio(
            samples=np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32),
            sample_rate_hz=sample_rate_hz,
            original_rate_hz=rate,
            original_channels=n_channels,
            original_layout=f"{n_channels} microphones",
            original_codec=f"vrs_audio_format_{int(config.sample_format)}",
            audio_start_s=(first_ns - self.clock_start_ns) / 1e9,
            channels_used=tuple(channels),
        )

    def camera(self) -> CameraModel | None:
        """The factory calibration of the RGB camera: Aria's FisheyeRadTanThinPrism
        (``fisheye624``) at the sensor resolution, with ``T_camera_cpf`` from the device's CPF."""
        return camera_from_provider(self.provider, self.path)


def generation_name(version: Any) -> str:
    """``gen1`` / ``gen2`` from projectaria-tools' device version (an enum printed as ``DeviceVersion.Gen1``)."""
    return str(version).rsplit(".", 1)[-1].lower()


def camera_from_provider(provider: Any, source: str | Path, stream_label: str = RGB_LABEL) -> CameraModel:
    """A camera model from a projectaria-tools data provider's device calibration."""
    device = provider.get_device_calibration()
    if device is None:
        raise InputError(f"{source}: the VRS carries no device calibration")
    camera = device.get_camera_calib(stream_label)
    if camera is None:
        raise InputError(f"{source}: the device calibration has no camera {stream_label!r}")
    T_device_camera = camera.get_transform_device_camera().to_matrix()
    T_device_cpf = device.get_transform_device_cpf().to_matrix()
    width, height = (int(v) for v in camera.get_image_size())
    params = tuple(float(v) for v in camera.get_projection_params())
    model = "fisheye624" if len(params) == PARAM_COUNTS["fisheye624"] else "pinhole"
    return CameraModel(model, width, height, params, np.linalg.inv(T_device_camera) @ T_device_cpf,
                       device=f"aria_{generation_name(device.get_device_version())}")

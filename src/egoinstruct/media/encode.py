"""Deterministic H.264 MP4 encoding of streamed frames (plus an optional WAV track) with ffmpeg.

Contract
--------
:class:`VideoWriter` starts one ffmpeg process (binary from
:func:`egoinstruct.media.ffmpeg.ffmpeg_executable`, command line built with ``ffmpeg-python``,
list argv, no shell) that reads raw frames from stdin (BGR images, or planar yuv420p bytes with
``input_format="yuv420p"``, then tagged BT.601 limited range) and, when given, the audio from a WAV file, and writes H.264 yuv420p
(+ AAC stereo) MP4. Frames are streamed, never held. The output is byte-identical for identical
input: single-threaded x264, bit-exact flags, no creation time, fixed metadata. ``metadata``
becomes container tags (``-movflags +use_metadata_tags`` keeps custom keys such as
``device_clock_start_us``; PyAV shows them in ``container.metadata``). With ``faststart`` the
index moves to the front, so browsers start playing before the whole file has loaded.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import IO

import ffmpeg
import numpy as np

from egoinstruct.media.ffmpeg import ffmpeg_executable


class VideoWriter:
    def __init__(
        self,
        path: Path,
        audio_wav: Path | None,
        fps: float,
        width: int,
        height: int,
        metadata: dict[str, str],
        crf: int = 24,
        preset: str = "fast",
        input_format: str = "bgr24",
        faststart: bool = False,
    ) -> None:
        if input_format not in ("bgr24", "yuv420p"):
            raise ValueError(f"input_format must be bgr24 or yuv420p, not {input_format!r}")
        self.path = path
        self.width, self.height = width, height
        self.input_format = input_format
        video = ffmpeg.input(
            "pipe:", format="rawvideo", pix_fmt=input_format, s=f"{width}x{height}", framerate=fps
        )
        options: dict[str, object] = {
            "vcodec": "libx264",
            "pix_fmt": "yuv420p",
            "preset": preset,
            "crf": crf,
            "g": max(1, round(2 * fps)),  # a keyframe every 2 s keeps seeking cheap
            "threads": 1,
            "x264-params": "threads=1",
            "fflags": "+bitexact",
            "flags:v": "+bitexact",
            "map_metadata": -1,
            "movflags": "+use_metadata_tags" + ("+faststart" if faststart else ""),
        }
        if input_format == "yuv420p":  # say what the planes are, so players and decoders read them alike
            options.update({"colorspace": "bt470bg", "color_primaries": "bt470bg", "color_trc": "smpte170m",
                            "color_range": "tv"})
        streams = [video.video]
        if audio_wav is not None:
            streams.append(ffmpeg.input(str(audio_wav)).audio)
            options.update({"acodec": "aac", "audio_bitrate": "96k", "ac": 2, "flags:a": "+bitexact"})
        for i, (key, value) in enumerate(metadata.items()):
            options[f"metadata:g:{i}"] = f"{key}={value}"
        args = ffmpeg.output(*streams, str(path), **options).compile(cmd=ffmpeg_executable())
        # global options belong before the inputs
        args = [args[0], "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args[1:]]
        self._stderr: IO[bytes] = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr
        )
        self.frames = 0

    def _error(self, what: str) -> RuntimeError:
        self._stderr.seek(0)
        log = self._stderr.read().decode(errors="replace")[-2000:]
        return RuntimeError(f"ffmpeg failed while {what} {self.path.name}:\n{log}")

    def write(self, frame: np.ndarray) -> None:
        """One frame: a BGR image ``[height, width, 3]``, or for yuv420p input the planes
        stacked as ``[height * 3 // 2, width]`` (what PyAV's ``VideoFrame.to_ndarray`` gives)."""
        shape = (self.height, self.width, 3) if self.input_format == "bgr24" else (self.height * 3 // 2, self.width)
        if frame.shape != shape or frame.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 {list(shape)}, got {frame.dtype} {frame.shape}")
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        except BrokenPipeError:
            self._proc.wait()
            raise self._error("encoding") from None
        self.frames += 1

    def close(self) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.close()
        except BrokenPipeError:
            pass
        if self._proc.wait() != 0:
            raise self._error("finishing")
        self._stderr.close()

    def abort(self) -> None:
        """Stop ffmpeg after an error elsewhere (the output is discarded by the caller)."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._stderr.close()

"""Deterministic MP4 encoding of streamed frames plus a WAV track with ffmpeg.

Contract
--------
:class:`VideoWriter` starts one ffmpeg process (binary from
:func:`egoinstruct.media.ffmpeg.ffmpeg_executable`, command line built with ``ffmpeg-python``,
list argv, no shell) that reads raw BGR frames from stdin and the audio from a WAV file, and
writes H.264 yuv420p + AAC stereo MP4. Frames are streamed, never held. The output is
byte-identical for identical input: single-threaded x264, bit-exact flags, no creation time,
fixed metadata. ``metadata`` becomes container tags (``-movflags +use_metadata_tags`` keeps
custom keys such as ``device_clock_start_us``; PyAV shows them in ``container.metadata``).
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
        audio_wav: Path,
        fps: int,
        width: int,
        height: int,
        metadata: dict[str, str],
        crf: int = 24,
    ) -> None:
        self.path = path
        self.width, self.height = width, height
        video = ffmpeg.input(
            "pipe:", format="rawvideo", pix_fmt="bgr24", s=f"{width}x{height}", framerate=fps
        )
        audio = ffmpeg.input(str(audio_wav))
        options: dict[str, object] = {
            "vcodec": "libx264",
            "pix_fmt": "yuv420p",
            "preset": "fast",
            "crf": crf,
            "g": 2 * fps,  # a keyframe every 2 s keeps seeking cheap
            "threads": 1,
            "x264-params": "threads=1",
            "acodec": "aac",
            "audio_bitrate": "96k",
            "ac": 2,
            "fflags": "+bitexact",
            "flags:v": "+bitexact",
            "flags:a": "+bitexact",
            "map_metadata": -1,
            "movflags": "+use_metadata_tags",
        }
        for i, (key, value) in enumerate(metadata.items()):
            options[f"metadata:g:{i}"] = f"{key}={value}"
        args = ffmpeg.output(video.video, audio.audio, str(path), **options).compile(
            cmd=ffmpeg_executable()
        )
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
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(
                f"frame must be uint8 [{self.height}, {self.width}, 3], got {frame.dtype} {frame.shape}"
            )
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

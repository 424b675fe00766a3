"""Find the ffmpeg executable without root.

Order: the ``EGOINSTRUCT_FFMPEG`` environment variable, then ``ffmpeg`` on ``PATH`` (a system
install, usually with more codecs), then the static binary that the PyPI package
``imageio-ffmpeg`` ships inside the virtual environment. ``ffmpeg-python`` builds the command
lines; it is always handed the path found here (``cmd=``), never a shell string.
"""

from __future__ import annotations

import os
import shutil
from functools import lru_cache

from egoinstruct.errors import MissingModelError


@lru_cache(maxsize=1)
def ffmpeg_executable() -> str:
    """Absolute path of the ffmpeg binary to use (see the module docstring for the order)."""
    override = os.environ.get("EGOINSTRUCT_FFMPEG")
    if override:
        if not (os.path.isfile(override) and os.access(override, os.X_OK)):
            raise MissingModelError(
                f"EGOINSTRUCT_FFMPEG={override!r} is not an executable file; unset it or point "
                "it at an ffmpeg binary"
            )
        return override
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - imageio-ffmpeg is a pinned dependency
        raise MissingModelError(
            "no ffmpeg found: install one on PATH (e.g. apt-get install ffmpeg) or the PyPI "
            "package imageio-ffmpeg (part of this project's environment; run ./setup.sh)"
        ) from exc
    return imageio_ffmpeg.get_ffmpeg_exe()

"""Atomic file output: a failed or interrupted job never leaves a half-written file behind.

Everything is written to a temporary file in the destination's folder and renamed into place
(``os.replace`` is atomic on one filesystem), so a reader sees either the old file, no file, or
the complete new one. A job killed before the rename (SIGKILL, power loss) leaves its hidden
temporary behind; the next writer of the same output deletes it.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds.

    ``suffix`` defaults to the destination's suffix (some writers pick the format from it).
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(dest)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{dest.name}.", suffix=suffix if suffix is not None else dest.suffix, dir=dest.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600; give the output the permissions a plain open() would (umask).
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_stale_temporaries(dest: str | Path) -> list[Path]:
    """Delete the hidden temporary files a killed writer of ``dest`` left behind (``.<name>.*``
    beside it); returns them. Only one job ever writes a given output (Snakemake's contract), so
    a temporary of ``dest`` that exists when its job starts again is stale."""
    dest = Path(dest)
    stale = [p for p in dest.parent.glob(f".{dest.name}.*") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _json_default(value: Any) -> Any:
    # numpy scalars and paths appear in probe results; make them plain JSON.
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_safe(value: Any) -> Any:
    """``value`` as strict JSON data: numpy scalars as Python numbers, NaN and infinities as null."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value

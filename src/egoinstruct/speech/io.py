"""Reading a session's tracks and writing the speech tables (atomic, schema-checked, with metadata)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from egoinstruct.errors import InputError
from egoinstruct.io import atomic_path
from egoinstruct.media.audio import read_wav
from egoinstruct.speech.session import SAMPLE_RATE_HZ, SessionAudio
from egoinstruct.tables import SCHEMAS, check_schema, with_metadata


def load_session_audio(session: str, wav_paths: dict[str, str | Path], roles: dict[str, str],
                       reference: str) -> SessionAudio:
    """The session-aligned WAVs of ``session`` (device -> path), all at 16 kHz."""
    tracks = {}
    for device, path in wav_paths.items():
        samples, rate = read_wav(path)
        if rate != SAMPLE_RATE_HZ:
            raise InputError(f"{path}: session audio must be {SAMPLE_RATE_HZ} Hz mono (got {rate} Hz); "
                             f"rerun the session_audio rule")
        tracks[device] = samples
    return SessionAudio(session, tracks, dict(roles), reference, SAMPLE_RATE_HZ)


def write_table(path: str | Path, table: pa.Table, kind: str, metadata: dict[str, object]) -> None:
    """Write ``table`` as the pipeline table ``kind`` with ``egoinstruct.*`` metadata, atomically."""
    expected = SCHEMAS[kind]
    check_schema(table.schema, expected, path)
    table = table.select(expected.names).cast(with_metadata(expected, {k: str(v) for k, v in metadata.items()}))
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)

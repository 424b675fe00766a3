"""The Parquet tables of the pipeline: one schema each, used both to write and to check on read.

Every time column is float64 seconds on the session clock. Table-level facts (source file,
settings, model names) go into the Parquet key-value metadata under ``egoinstruct.*`` keys.
docs/data_contracts.md describes the same schemas for people.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from egoinstruct.errors import InputError

FRAMES_SCHEMA = pa.schema(
    [
        pa.field("t", pa.float64(), nullable=False),  # session clock (s)
        pa.field("frame_index", pa.int64(), nullable=False),  # k of t = k / fps
        pa.field("source_time_s", pa.float64(), nullable=False),  # device clock time of the frame used
        pa.field("width", pa.int32(), nullable=False),
        pa.field("height", pa.int32(), nullable=False),
        pa.field("jpeg", pa.binary(), nullable=False),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {"frames": FRAMES_SCHEMA}

_PREFIX = "egoinstruct."


def with_metadata(schema: pa.Schema, metadata: dict[str, str]) -> pa.Schema:
    """``schema`` carrying ``metadata`` (keys prefixed ``egoinstruct.``)."""
    return schema.with_metadata({f"{_PREFIX}{k}": str(v) for k, v in metadata.items()})


def table_metadata(path: str | Path) -> dict[str, str]:
    """The ``egoinstruct.*`` metadata of a Parquet file, without the prefix."""
    raw = pq.read_schema(path).metadata or {}
    return {
        k.decode()[len(_PREFIX):]: v.decode() for k, v in raw.items() if k.decode().startswith(_PREFIX)
    }


def check_schema(schema: pa.Schema, expected: pa.Schema, source: str | Path) -> None:
    """Raise :class:`InputError` unless ``schema`` has ``expected``'s columns and types."""
    problems = []
    for field in expected:
        if field.name not in schema.names:
            problems.append(f"missing column {field.name}")
        elif not schema.field(field.name).type.equals(field.type):
            problems.append(f"column {field.name} is {schema.field(field.name).type}, expected {field.type}")
    if problems:
        raise InputError(
            f"{source}: not a valid table ({'; '.join(problems)}); it was written by another "
            "version of egoinstruct or another tool — delete it and rerun the stage that makes it"
        )


def read_table(path: str | Path, kind: str, columns: list[str] | None = None) -> pa.Table:
    """Read a pipeline table and check it against the schema of ``kind``."""
    expected = SCHEMAS[kind]
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"{path}: cannot read Parquet table ({exc})") from exc
    check_schema(schema, expected, path)
    return pq.read_table(path, columns=columns)

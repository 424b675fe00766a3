"""Write a pandas table to Parquet under one of the schemas of :mod:`egoinstruct.tables`.

The schema decides column order and types (a column of the wrong type fails here, not in a
later stage); table-level facts go into the ``egoinstruct.*`` metadata; the file appears
atomically.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from egoinstruct.io import atomic_path
from egoinstruct.tables import with_metadata


def write_frame(frame: pd.DataFrame, schema: pa.Schema, path: str | Path, metadata: dict[str, str]) -> None:
    """Write ``frame``'s columns named in ``schema`` (all must exist) to ``path``."""
    missing = [name for name in schema.names if name not in frame.columns]
    if missing:
        raise ValueError(f"table for {path} lacks column(s) {', '.join(missing)}")
    table = pa.Table.from_pandas(
        frame[schema.names], schema=with_metadata(schema, metadata), preserve_index=False
    )
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)

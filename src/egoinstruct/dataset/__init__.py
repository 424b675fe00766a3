"""Dataset assembly: one table per session at a fixed rate with features and labels.

:mod:`.assemble` computes the feature groups and labels, :mod:`.table` writes and reads
``dataset.parquet``, :mod:`.text` embeds utterances offline. docs/data_contracts.md lists the
columns.
"""

from egoinstruct.dataset.assemble import (
    GROUPS,
    Assembled,
    SessionSources,
    assemble_session,
    frame_times,
)
from egoinstruct.dataset.table import SessionDataset, group_ranges, read_dataset, write_dataset

__all__ = [
    "GROUPS", "Assembled", "SessionSources", "assemble_session", "frame_times",
    "SessionDataset", "group_ranges", "read_dataset", "write_dataset",
]

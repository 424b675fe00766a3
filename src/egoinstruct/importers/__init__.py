"""Importers: public datasets' annotations → the project's annotation CSV, label sets and a report
of what was dropped or mapped (``egoinstruct import <format>``; see docs/importers.md).

One module per format (:mod:`.egoexo4d`, :mod:`.holoassist`, :mod:`.elan`, :mod:`.frames`) and the
shared rules in :mod:`.common` (slug rule, overlap rule, writers).
"""

from egoinstruct.importers.common import (
           ImportReport,
           ImportResult,
           LabelSetSpec,
           Segment,
           slug,
           write_outputs,
)
from egoinstruct.importers.egoexo4d import import_egoexo4d, read_session_map
from egoinstruct.importers.elan import import_elan, read_eaf_tiers
from egoinstruct.importers.frames import import_frames
from egoinstruct.importers.holoassist import import_holoassist, read_purpose_mapping

__all__ = ["ImportReport", "ImportResult", "LabelSetSpec", "Segment", "import_egoexo4d", "import_elan",
           "import_frames", "import_holoassist", "read_eaf_tiers", "read_purpose_mapping", "read_session_map",
           "slug", "write_outputs"]

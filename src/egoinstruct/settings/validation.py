"""Settings of the validate stage (``annotation_checks``)."""

from __future__ import annotations

from dataclasses import dataclass

from egoinstruct.settings import Settings


@dataclass(frozen=True)
class AnnotationChecks(Settings):
    """``annotation_checks``: how annotation files are read and what they must satisfy."""

    eaf_tiers: dict[str, str]  # task -> ELAN TIER_ID
    allow_gaps: bool
    end_tolerance_s: float

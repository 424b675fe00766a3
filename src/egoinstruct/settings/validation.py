"""Settings of the validate stage (``annotation_checks``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from egoinstruct.settings import Settings


@dataclass(frozen=True)
class GapPolicy(Settings):
    """``annotation_checks.gaps.<task>``: what unlabelled time of the task is."""

    policy: Literal["error", "ignore", "fill"]
    fill_label: str | None  # the label filled in (policy fill)


@dataclass(frozen=True)
class AnnotationChecks(Settings):
    """``annotation_checks``: how annotation files are read and what they must satisfy."""

    eaf_tiers: dict[str, str]  # task -> ELAN TIER_ID
    gaps: dict[str, GapPolicy]  # task -> policy
    end_tolerance_s: float

"""Settings of the evaluation (``evaluation``) and of the report (``report``)."""

from __future__ import annotations

from dataclasses import dataclass

from egoinstruct.settings import Settings


@dataclass(frozen=True)
class BootstrapSettings(Settings):
    """``evaluation.bootstrap``: percentile bootstrap over sessions."""

    resamples: int
    confidence: float
    seed: int


@dataclass(frozen=True)
class EvaluationSettings(Settings):
    """``evaluation``: every method scored on one grid per session."""

    rate_hz: float
    background_labels: tuple[str, ...]
    end_convention: str  # mstcn | asformer
    overlaps: tuple[float, ...]
    window_s: float
    hop_s: float
    bootstrap: BootstrapSettings
    primary_metric: dict[str, str]  # task -> metric
    pairs: str | tuple[tuple[str, str], ...]  # "auto" or [method_a, method_b] pairs
    majority_reference: bool

    def window_frames(self) -> tuple[int, int]:
        """(window, hop) of the window-level metrics in grid frames (at least 1)."""
        return max(1, round(self.window_s * self.rate_hz)), max(1, round(self.hop_s * self.rate_hz))


@dataclass(frozen=True)
class ReportSettings(Settings):
    """``report``: the title and which sessions are drawn as timelines."""

    title: str
    timeline_sessions: tuple[str, ...]
    explorer: bool  # one explorer page per session (results/report/sessions/{session}.html)

"""The metrics report: one self-contained HTML page, a Markdown summary and CSV tables.

:mod:`.build` assembles the page from the evaluation's tables (:mod:`egoinstruct.evaluation`)
and the per-session data files; :mod:`.html` and :mod:`.svg` are the dependency-free building
blocks (inline CSS, hand-written SVG); :mod:`.data` gathers the data and MLLM-usage tables;
:mod:`.provenance` records versions, the configuration hash and the git commit. docs/report.md
describes what the report shows.
"""

from egoinstruct.report.build import ReportInputs, ReportOutputs, build_report

__all__ = ["ReportInputs", "ReportOutputs", "build_report"]

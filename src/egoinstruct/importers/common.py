"""What every importer shares: the slug rule, the import report, overlap resolution, and writing
the annotation CSV and label-set YAML files.

Slug rule (:func:`slug`): Unicode letters are reduced to their ASCII base (``é`` → ``e``), the
text is lower-cased, every run of characters outside ``[a-z0-9]`` becomes one ``_``, and leading
and trailing ``_`` are removed: ``"Read the instructions"`` → ``read_the_instructions``,
``"Covid-19 Rapid Antigen Test"`` → ``covid_19_rapid_antigen_test``. A name with nothing left
(e.g. only punctuation) has no slug; importers report and drop it.

Overlap rule (:func:`resolve_overlaps`): within one session and tier, segments are taken in order
of start time (ties: file order); a segment that starts before the previous kept one ends is
trimmed to start at that end, and dropped when nothing is left. Both are counted in the report.
Gaps are never filled.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from egoinstruct.errors import InputError
from egoinstruct.labels import label_file

CSV_HEADER = ("session", "tier", "t_start", "t_end", "label")
_MAX_EXAMPLES = 5


def slug(name: object) -> str:
    """The identifier made from ``name`` by the slug rule ('' when nothing is left)."""
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def one_line(text: object) -> str:
    """``text`` with all whitespace runs collapsed to single spaces."""
    return " ".join(str(text).split())


@dataclass(frozen=True)
class Segment:
    session: str
    tier: str
    t_start: float
    t_end: float
    label: str


@dataclass
class Issue:
    """One reason something was dropped, trimmed or mapped: how often, and a few examples."""

    count: int = 0
    examples: list[str] = field(default_factory=list)


BACKGROUND = "background"
BACKGROUND_DESCRIPTION = ("No step is being carried out (time the source leaves unlabelled; "
                          "annotation_checks.gaps.steps with policy fill gives it this label).")


@dataclass
class LabelSetSpec:
    """A label set to write: ``tier``, ``procedure`` for steps, ordered label → description."""

    tier: str
    labels: dict[str, str]
    procedure: str | None = None
    comment: str = ""


@dataclass
class ImportReport:
    """What an import did: segments written per tier, and every drop, trim or mapping with its
    reason (count and examples)."""

    format: str
    source: str
    sessions: list[str] = field(default_factory=list)
    segments: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, Issue] = field(default_factory=dict)
    mapped: dict[str, Issue] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def drop(self, reason: str, example: str) -> None:
        _note(self.dropped, reason, example)

    def map(self, reason: str, example: str) -> None:
        _note(self.mapped, reason, example)

    def dropped_count(self, reason: str) -> int:
        return self.dropped[reason].count if reason in self.dropped else 0

    def to_dict(self) -> dict[str, Any]:
        issues = lambda d: {k: {"count": v.count, "examples": v.examples} for k, v in d.items()}  # noqa: E731
        return {"format": self.format, "source": self.source, "sessions": self.sessions,
                "segments": self.segments, "dropped": issues(self.dropped), "mapped": issues(self.mapped),
                "notes": self.notes}

    def write_json(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    def text(self) -> str:
        """The report as lines for the terminal."""
        per_tier = ", ".join(f"{tier}: {n}" for tier, n in self.segments.items()) or "none"
        lines = [f"{self.format} import of {self.source}: {len(self.sessions)} session(s) "
                 f"({', '.join(self.sessions)}); segments {per_tier}"]
        for title, issues in (("dropped", self.dropped), ("mapped", self.mapped)):
            for reason, issue in issues.items():
                lines.append(f"  {title}: {reason}: {issue.count} (e.g. {'; '.join(issue.examples)})")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def _note(issues: dict[str, Issue], reason: str, example: str) -> None:
    issue = issues.setdefault(reason, Issue())
    issue.count += 1
    if len(issue.examples) < _MAX_EXAMPLES and example not in issue.examples:
        issue.examples.append(example)


@dataclass
class ImportResult:
    segments: list[Segment]
    label_sets: list[LabelSetSpec]
    report: ImportReport


def keep_segment(report: ImportReport, where: str, t_start: object, t_end: object) -> tuple[float, float] | None:
    """The segment's times as floats, or None (reported) when they are missing, not numbers,
    before the session start, or of zero or negative length."""
    try:
        start, end = float(t_start), float(t_end)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        report.drop("no start or end time", f"{where}: start {t_start!r}, end {t_end!r}")
        return None
    if end <= start:
        report.drop("zero or negative length", f"{where}: {start:g}–{end:g} s")
        return None
    if start < 0:
        report.drop("starts before the session clock's 0", f"{where}: {start:g}–{end:g} s")
        return None
    return start, end


def resolve_overlaps(segments: list[Segment], report: ImportReport) -> list[Segment]:
    """Segments without overlaps inside a session's tier, by the rule in the module docstring,
    sorted by session, tier and time."""
    ordered = sorted(enumerate(segments), key=lambda p: (p[1].session, p[1].tier, p[1].t_start, p[0]))
    kept: list[Segment] = []
    for _, seg in ordered:
        previous = kept[-1] if kept and (kept[-1].session, kept[-1].tier) == (seg.session, seg.tier) else None
        if previous is not None and seg.t_start < previous.t_end:
            example = (f"{seg.session}/{seg.tier}: {seg.label} {seg.t_start:g}–{seg.t_end:g} s overlaps "
                       f"{previous.label} (ends {previous.t_end:g} s)")
            if seg.t_end <= previous.t_end:
                report.drop("inside an earlier-starting segment of the same tier (overlap)", example)
                continue
            report.map("overlap trimmed: start moved to the end of the earlier segment", example)
            seg = Segment(seg.session, seg.tier, previous.t_end, seg.t_end, seg.label)
        kept.append(seg)
    return kept


def complete(segments: list[Segment], report: ImportReport,
             descriptions: dict[tuple[str, str | None, str], str], procedures: dict[str, str | None],
             comment: str, before_fill: Callable[[ImportResult], None] | None = None) -> ImportResult:
    """The result of an import: overlaps resolved, report counts filled, one label set per
    (tier, procedure) (see :func:`label_sets`; ``before_fill`` may extend them), and placeholder
    descriptions where none was found."""
    result = finish(ImportResult(segments, [], report))
    result.label_sets = label_sets(result.segments, descriptions, procedures, comment)
    if before_fill is not None:
        before_fill(result)
    return fill_descriptions(result)


def finish(result: ImportResult) -> ImportResult:
    """Resolve overlaps and fill the report's counts."""
    result.segments = resolve_overlaps(result.segments, result.report)
    counts: dict[str, int] = {}
    for seg in result.segments:
        counts[seg.tier] = counts.get(seg.tier, 0) + 1
    result.report.segments = counts
    result.report.sessions = sorted({seg.session for seg in result.segments})
    return result


def write_csv(segments: list[Segment], path: str | Path) -> None:
    """The annotation CSV (``session,tier,t_start,t_end,label``; seconds to the microsecond)."""
    lines = [",".join(CSV_HEADER)]
    lines += [f"{s.session},{s.tier},{s.t_start:.6f},{s.t_end:.6f},{s.label}" for s in segments]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(lines) + "\n")


def write_label_set(spec: LabelSetSpec, labels_dir: str | Path) -> Path:
    """Write ``spec`` as ``states.yaml`` / ``steps_<procedure>.yaml`` in ``labels_dir``."""
    path = label_file(labels_dir, spec.tier, spec.procedure)
    body: dict[str, Any] = {"tier": spec.tier}
    if spec.procedure:
        body["procedure"] = spec.procedure
    body["labels"] = {label: one_line(text) for label, text in spec.labels.items()}
    comment = "".join(f"# {line}\n" for line in spec.comment.splitlines())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(comment + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=10_000))
    return path


def write_outputs(result: ImportResult, csv_path: str | Path, labels_dir: str | Path,
                  report_json: str | Path | None = None, force: bool = False) -> list[Path]:
    """Write the CSV, the label sets and (optionally) the JSON report; refuse to overwrite
    existing files unless ``force``. Returns the files written."""
    targets = [Path(csv_path)] + [label_file(labels_dir, s.tier, s.procedure) for s in result.label_sets]
    existing = [str(p) for p in targets if p.exists()]
    if existing and not force:
        raise InputError(f"{', '.join(existing)}: already exist(s); choose other output paths or pass --force "
                         "to overwrite")
    if not result.segments:
        raise InputError(f"{result.report.source}: nothing to import (every segment was dropped):\n"
                         f"{result.report.text()}")
    write_csv(result.segments, csv_path)
    written = [Path(csv_path)] + [write_label_set(spec, labels_dir) for spec in result.label_sets]
    if report_json is not None:
        result.report.write_json(report_json)
        written.append(Path(report_json))
    return written


def read_json(path: str | Path, what: str) -> Any:
    """A JSON file, or an :class:`InputError` naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: {what} not found; check the path") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); pass the {what} as delivered") from None


def require_slug(name: object, path: str | Path, where: str) -> str:
    """``slug(name)``, or an :class:`InputError` when nothing is left of ``name``."""
    made = slug(name)
    if not made:
        raise InputError(f"{path}: {where} = {name!r} gives no identifier (needs letters or digits); "
                         "name it explicitly")
    return made


def label_sets(segments: list[Segment], descriptions: dict[tuple[str, str | None, str], str],
               procedures: dict[str, str | None], comment: str) -> list[LabelSetSpec]:
    """One label set per (tier, procedure) of the kept segments, labels in first-seen order
    (by time), each with its description from ``descriptions[(tier, procedure, label)]``.
    ``procedures`` maps session → procedure (steps only)."""
    specs: dict[tuple[str, str | None], LabelSetSpec] = {}
    for seg in segments:
        procedure = procedures.get(seg.session) if seg.tier == "steps" else None
        # step sets open with background, as the project's own do: the sources leave the time
        # between steps unlabelled, and annotation_checks.gaps can fill it with this label
        first = {BACKGROUND: BACKGROUND_DESCRIPTION} if seg.tier == "steps" else {}
        spec = specs.setdefault((seg.tier, procedure), LabelSetSpec(seg.tier, first, procedure, comment))
        spec.labels.setdefault(seg.label, descriptions.get((seg.tier, procedure, seg.label), ""))
    return list(specs.values())


def fill_descriptions(result: ImportResult) -> ImportResult:
    """Give labels without a description a placeholder that says so (label sets need one line
    each), and report them so that users write real ones."""
    for spec in result.label_sets:
        for label, text in spec.labels.items():
            if not text:
                spec.labels[label] = f"{label.replace('_', ' ').capitalize()} (no description in the source; write one)."
                where = f"{spec.tier}_{spec.procedure}" if spec.procedure else spec.tier
                result.report.map("label without a description: placeholder written", f"{where}: {label}")
    return result

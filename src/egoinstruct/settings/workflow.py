"""A whole configuration as typed settings, checked before any job runs.

:func:`load_settings` is what the workflow (``common.smk``) and ``egoinstruct check`` call, once:
the schema (types, ranges, unknown keys, defaults: :mod:`egoinstruct.config`), the typed
sections (:mod:`egoinstruct.settings`), then the checks that involve several keys, the task
registry or the prompt templates (:func:`check_settings`). Checks that need the sample sheet or
the registered methods are separate functions the workflow calls once it has them
(:func:`check_against_sheet`, :func:`check_pairs`). So a typo anywhere in the configuration stops
``snakemake -n`` with the file, the key and the fix.

Scripts never import this module: a rule gets its own section as plain data (params) and
rebuilds it with the section class's ``from_mapping``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from egoinstruct.config import read_config_file, validate_config
from egoinstruct.errors import InputError
from egoinstruct.paths import REPO_ROOT
from egoinstruct.settings import Settings
from egoinstruct.settings.dataset import BaselineSettings, DatasetSettings, FoldSettings
from egoinstruct.settings.demo import DemoSettings
from egoinstruct.settings.evaluation import EvaluationSettings, ReportSettings
from egoinstruct.settings.gaze import GazeDebugSettings, GazeSettings
from egoinstruct.settings.ingest import AnalysisSettings, FrameSettings, MediaSettings, SyncSettings
from egoinstruct.settings.mllm import MllmSettings
from egoinstruct.settings.speech import ProsodySettings, SpeechSettings
from egoinstruct.settings.validation import AnnotationChecks
from egoinstruct.settings.visual import FeatureSettings, HeadMotionSettings
from egoinstruct.tasks import TASK_NAMES, check_task_names, get_task

S = TypeVar("S")


@dataclass(frozen=True)
class WorkflowSettings(Settings):
    """The whole ``config/config.yaml``."""

    recordings: str
    annotations: str
    labels_dir: str
    reference_role: str
    annotation_checks: AnnotationChecks
    demo: DemoSettings
    media: MediaSettings
    sync: SyncSettings
    analysis: AnalysisSettings
    frames: FrameSettings
    speech: SpeechSettings
    prosody: ProsodySettings
    gaze: GazeSettings
    gaze_debug: GazeDebugSettings
    features: FeatureSettings
    head_motion: HeadMotionSettings
    dataset: DatasetSettings
    folds: FoldSettings
    baselines: BaselineSettings
    mllm: MllmSettings
    evaluation: EvaluationSettings
    report: ReportSettings


def load_settings(config: Mapping[str, Any], source: str | Path = "config") -> WorkflowSettings:
    """Typed, checked settings from a configuration mapping (``source`` names it in messages)."""
    data = validate_config(config, source)
    try:
        settings = WorkflowSettings.from_mapping(data, "")
        check_settings(settings)
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None
    return settings


def read_settings(path: str | Path) -> WorkflowSettings:
    """:func:`load_settings` of a YAML file."""
    return load_settings(read_config_file(path), path)


@cache
def default_settings() -> WorkflowSettings:
    """The settings of the repository's ``config/config.yaml`` (the defaults), for tests and tools."""
    return read_settings(REPO_ROOT / "config" / "config.yaml")


def defaults_for(cls: type[S], **changes: Any) -> S:
    """The default section of type ``cls`` (found in :func:`default_settings`), with ``changes``."""
    found = _find(default_settings(), cls)
    if found is None:
        raise TypeError(f"no section of type {cls.__name__} in the configuration")
    return dataclasses.replace(found, **changes)  # type: ignore[type-var]


def _find(value: Any, cls: type) -> Any:
    if isinstance(value, cls):
        return value
    children: list[Any] = []
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        children = [getattr(value, f.name) for f in dataclasses.fields(value)]
    elif isinstance(value, Mapping):
        children = list(value.values())
    for child in children:
        found = _find(child, cls)
        if found is not None:
            return found
    return None


# --- checks that involve several keys ------------------------------------------------------------


def check_settings(settings: WorkflowSettings) -> None:
    """Every check the schema cannot express; :class:`InputError` with the key and the fix."""
    check_task_names(list(settings.annotation_checks.eaf_tiers), "config annotation_checks.eaf_tiers")
    check_analysis(settings)
    missing = [t for t in TASK_NAMES if t not in settings.annotation_checks.eaf_tiers]
    if missing:
        raise InputError(f"config annotation_checks.eaf_tiers: no ELAN tier named for {', '.join(missing)}; "
                         "add task: TIER_ID")
    gaps = settings.annotation_checks.gaps
    check_task_names(list(gaps), "config annotation_checks.gaps")
    missing = [t for t in TASK_NAMES if t not in gaps]
    if missing:
        raise InputError(f"config annotation_checks.gaps: no policy for {', '.join(missing)}; add "
                         "task: {policy: error, fill_label: null}")
    for task, gap in gaps.items():
        if gap.policy == "fill" and not gap.fill_label:
            raise InputError(f"config annotation_checks.gaps.{task}: policy fill needs a fill_label (a label of "
                             f"the {task} label set, e.g. background for steps)")
    check_baselines(settings.baselines, settings.dataset)
    check_mllm(settings.mllm)
    check_evaluation(settings.evaluation)
    if settings.prosody.pitch_floor_hz >= settings.prosody.pitch_ceiling_hz:
        raise InputError("config prosody.pitch_floor_hz must be below prosody.pitch_ceiling_hz")
    low, high = settings.sync.band_hz
    if not low < high:
        raise InputError(f"config sync.band_hz: [{low:g}, {high:g}] is not a band; give [low, high] with low < high")
    low, high = settings.gaze.depth_range_m
    if not low < high:
        raise InputError(f"config gaze.depth_range_m: [{low:g}, {high:g}] is not a range; give [near, far]")


def stage_video_rates(settings: WorkflowSettings) -> dict[str, float]:
    """Config key -> frame rate of every stage that reads a device's video (analysis stream)."""
    return {"frames.fps": settings.frames.fps, "gaze.faces.fps": settings.gaze.faces.fps,
            "head_motion.fps": settings.head_motion.fps, "features.fps": settings.features.fps}


def analysis_stream(settings: WorkflowSettings) -> dict[str, Any]:
    """The analysis_video rule's parameters, its rate resolved (:func:`egoinstruct.analysis.stream_rate`)."""
    from egoinstruct.analysis import stream_rate

    analysis = settings.analysis
    return {"fps": stream_rate(analysis.fps, list(stage_video_rates(settings).values())),
            "width": analysis.width, "crf": analysis.crf, "preset": analysis.preset}


def check_analysis(settings: WorkflowSettings) -> None:
    """The stream serves every stage: their rates divide its rate, and frames are not wider."""
    from egoinstruct.analysis import check_stream_rate

    if not settings.analysis.enabled:
        return
    check_stream_rate(analysis_stream(settings)["fps"], stage_video_rates(settings))
    width, frames_width = settings.analysis.width, settings.frames.width
    if width is not None and frames_width is not None and frames_width > width:
        raise InputError(f"config frames.width: {frames_width} px is wider than the analysis stream the frames are "
                         f"cut from (analysis.width: {width}); raise analysis.width or lower frames.width")


def check_baselines(baselines: BaselineSettings, dataset: DatasetSettings) -> None:
    check_task_names(list(baselines.methods), "config baselines.methods")
    for task, methods in baselines.methods.items():
        for name, method in methods.items():
            key = f"config baselines.methods.{task}.{name}"
            if method.model == "majority":
                continue
            if method.modalities not in dataset.modality_sets:
                raise InputError(
                    f"{key}.modalities: {method.modalities!r} is not a name in dataset.modality_sets "
                    f"({', '.join(dataset.modality_sets)}); use one of them or add the set there"
                )


def check_mllm(mllm: MllmSettings) -> None:
    """Tasks, windows, and each enabled model against its prompt template."""
    from egoinstruct.mllm.prompts import check_model

    check_task_names(mllm.tasks, "config mllm.tasks")
    if mllm.hop_s > mllm.window_s:
        raise InputError(
            f"config mllm.hop_s ({mllm.hop_s:g}) must be at most mllm.window_s ({mllm.window_s:g}), "
            "or parts of a session would fall in no window"
        )
    for model in mllm.models.values():
        if not model.enabled:
            continue
        check_model(model)


def check_evaluation(evaluation: EvaluationSettings) -> None:
    from egoinstruct.evaluation import task_metrics

    check_task_names(list(evaluation.primary_metric), "config evaluation.primary_metric")
    for task_name in TASK_NAMES:
        metric = evaluation.primary_metric.get(task_name)
        names = task_metrics(get_task(task_name), evaluation.overlaps)
        if metric is None:
            raise InputError(f"config evaluation.primary_metric.{task_name}: missing; choose one of {', '.join(names)}")
        if metric not in names:
            raise InputError(
                f"config evaluation.primary_metric.{task_name}: {metric!r} is not a metric of that task "
                f"(with evaluation.overlaps {list(evaluation.overlaps)}); choose one of {', '.join(names)}"
            )


def check_against_sheet(settings: WorkflowSettings, sessions: Sequence[str], devices: Sequence[str],
                        recordings: str) -> None:
    """Settings that name sessions or devices name ones of the sample sheet."""
    known = set(sessions)
    for key, named in (("report.timeline_sessions", settings.report.timeline_sessions),
                       ("gaze_debug.sessions", settings.gaze_debug.sessions)):
        unknown = [s for s in named if s not in known]
        if unknown:
            raise InputError(f"config {key}: session(s) {', '.join(unknown)} are not in {recordings}; "
                             "fix the names or leave the list empty")
    from egoinstruct.sheet import ROLES

    choices = {"reference", *ROLES, *devices}
    for key, values in (("mllm.devices", settings.mllm.devices),
                        ("mllm.audio_device", [settings.mllm.audio_device] if settings.mllm.audio_device else [])):
        unknown = [v for v in values if v not in choices]
        if unknown:
            raise InputError(f"config {key}: {', '.join(unknown)} is neither 'reference', a role "
                             f"({', '.join(ROLES)}) nor a device of {recordings}")


def check_pairs(evaluation: EvaluationSettings, methods: Mapping[str, Sequence[str]]) -> None:
    """Configured paired tests name registered methods (task -> method names)."""
    if isinstance(evaluation.pairs, str):
        return
    known = {m for names in methods.values() for m in names}
    for a, b in evaluation.pairs:
        unknown = [m for m in (a, b) if m not in known]
        if unknown:
            raise InputError(
                f"config evaluation.pairs: [{a}, {b}] names {', '.join(unknown)}, which no task registers; "
                f"the methods are {', '.join(sorted(known)) or '(none)'}"
            )

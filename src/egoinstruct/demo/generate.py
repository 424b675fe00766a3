"""Orchestration of the demo-session generator: one seeded session in, a folder of files out.

Contract
--------
:func:`generate_session` writes every file of :func:`session_files` for one session under
``root/session/`` (videos, Aria eye-gaze CSVs, calibrations, annotations, truth), atomically:
everything is written into a temporary folder inside ``root`` and moved into place only when all
of it is complete, so a crash leaves no half-written output. The random stream depends only on
``(settings.seed, session)``, so sessions can be generated independently (one Snakemake job each)
and the same seed gives byte-identical files.

:func:`demo_sheets` gives the sample-sheet and annotation-sheet rows that describe generated
sessions, in the formats the pipeline reads (see docs/demo_data.md).

Clocks: a hidden *world* clock; each device starts recording at its own world time (0.3–3 s);
the session clock has t = 0 at the first frame of the reference device (instructor_aria), and
``t_session = t_device + offset_s`` for every device (``truth/truth.json``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from egoinstruct.camera import CameraModel, gaze_point_cpf
from egoinstruct.demo import layout as L
from egoinstruct.demo.audio import (
    DeviceAudio,
    Mixer,
    Placed,
    SourceMix,
    speech_envelopes,
    work_track,
)
from egoinstruct.demo.parts import geometry_for
from egoinstruct.demo.scene import SceneRenderer
from egoinstruct.demo.script import Line, SessionPlan, plan_session, sentence_bank
from egoinstruct.demo.speech import RATES_WPM, VOICES, synthesize
from egoinstruct.demo.world import CATEGORY_NAMES, FACE, WORK, World
from egoinstruct.errors import InputError
from egoinstruct.gaze.mps import write_mps_eye_gaze
from egoinstruct.labels import label_file, load_labels
from egoinstruct.media.encode import VideoWriter
from egoinstruct.paths import LABELS_DIR
from egoinstruct.settings.demo import DemoSettings
from egoinstruct.tasks import STATES, STEPS, TASK_NAMES

log = logging.getLogger(__name__)

# What the workflow uses and the generator does not (left out of truth.json's settings).
_WORKFLOW_KEYS = ("enabled", "root")


# (device, role, kinds of sample-sheet rows it contributes). Each Aria device's eye gaze lies in
# an MPS folder as MPS delivers it (<device>/mps/eye_gaze/general_eye_gaze.csv); the instructor's
# is listed as that folder (kind mps), the learner's as the CSV itself, so both ways are run.
DEVICES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("instructor_aria", "instructor", ("video", "mps", "calibration")),
    ("learner_aria", "learner", ("video", "gaze_csv", "calibration")),
    ("exo_gopro", "exo", ("video",)),
)
HEAD_DEVICES = ("instructor_aria", "learner_aria")
REFERENCE_DEVICE = "instructor_aria"
PROCEDURES = ("block_assembly", "paper_folding")
# MPS eye-gaze layouts the head cameras rotate through (egoinstruct.gaze.mps): the old Gen 1 model
# with session_uid, the current Gen 1 model (per-eye yaw, no combined yaw) and Gen 2.
GAZE_LAYOUTS = ("gen1_v2", "gen1_v3", "gen2")
START_RANGE_S = (0.3, 3.0)  # each device starts recording this long after world time 0
EYE_X_M = 0.0325  # left eye at +x, right eye at -x in the CPF
GAZE_DROP_RATE = 0.015
_SESSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

# How each device hears each source: gain (linear) and distance (m) → delay.
_HEARING: dict[str, dict[str, SourceMix]] = {
    "instructor_aria": {
        "instructor": SourceMix(1.0, 0.10),
        "learner": SourceMix(0.316, 1.05, muffled=True),  # -10 dB, across the table
        "work": SourceMix(0.7, 0.50),
    },
    "learner_aria": {
        "learner": SourceMix(1.0, 0.10),
        "instructor": SourceMix(0.316, 1.05, muffled=True),
        "work": SourceMix(0.7, 0.50),
    },
    "exo_gopro": {
        "instructor": SourceMix(0.5, 1.30, muffled=True),
        "learner": SourceMix(0.45, 1.45, muffled=True),
        "work": SourceMix(0.5, 1.20),
    },
}


def procedure_for(index: int) -> str:
    """Procedure of the ``index``-th demo session (0-based): alternates between the two."""
    return PROCEDURES[index % len(PROCEDURES)]


def session_index(session: str) -> int:
    """Number in a session name (``demo03`` → 3); a stable hash when there is none."""
    digits = re.findall(r"\d+", session)
    return int(digits[-1]) if digits else zlib.crc32(session.encode()) % 1000


def session_files(session: str, root: Path, with_eaf: bool) -> dict[str, Path]:
    """Every file :func:`generate_session` writes for ``session``, by stable key."""
    base = Path(root) / session
    files: dict[str, Path] = {}
    for device, _role, kinds in DEVICES:
        files[f"video_{device}"] = base / f"{device}.mp4"
        if "gaze_csv" in kinds or "mps" in kinds:
            files[f"gaze_{device}"] = base / device / "mps" / "eye_gaze" / "general_eye_gaze.csv"
        if "calibration" in kinds:
            files[f"calibration_{device}"] = base / device / "calibration.json"
    files["annotations"] = base / "annotations.tsv"
    if with_eaf:
        files["annotations_eaf"] = base / "annotations.eaf"
    files["truth"] = base / "truth" / "truth.json"
    files["dialogue"] = base / "truth" / "dialogue.tsv"
    for device in HEAD_DEVICES:
        files[f"frames_{device}"] = base / "truth" / f"frames_{device}.parquet"
    return files


def demo_files(sessions: list[str], root: str | Path) -> list[Path]:
    """Every file the demo rule writes for ``sessions`` under ``root``."""
    return [path for session in sessions for path in session_files(session, Path(root), with_eaf=True).values()]


def demo_sheets(sessions: list[str], root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sample-sheet rows (session, device, role, kind, path) and annotation-sheet rows
    (session, procedure, path) for demo ``sessions`` under ``root`` (paths as ``str(root/...)``,
    so a relative root gives repo-relative paths). The first session's annotations are its
    ELAN file, the others' TSV; procedures alternate as in :func:`procedure_for`."""
    recordings = []
    annotations = []
    for index, session in enumerate(sessions):
        files = session_files(session, Path(root), with_eaf=index == 0)
        for device, role, kinds in DEVICES:
            paths = {
                "video": files[f"video_{device}"],
                "gaze_csv": files.get(f"gaze_{device}"),
                "mps": files[f"gaze_{device}"].parent.parent if f"gaze_{device}" in files else None,
                "calibration": files.get(f"calibration_{device}"),
            }
            for kind in kinds:
                recordings.append(
                    {
                        "session": session,
                        "device": device,
                        "role": role,
                        "kind": kind,
                        "path": str(paths[kind]),
                    }
                )
        ann = files["annotations_eaf"] if index == 0 else files["annotations"]
        annotations.append(
            {"session": session, "procedure": procedure_for(index), "path": str(ann)}
        )
    return (
        pd.DataFrame(recordings, columns=["session", "device", "role", "kind", "path"]),
        pd.DataFrame(annotations, columns=["session", "procedure", "path"]),
    )


# -- inputs --------------------------------------------------------------------------------------


def _check_settings(session: str, procedure: str, settings: DemoSettings) -> None:
    if not _SESSION_NAME.match(session):
        raise InputError(
            f"demo session name {session!r} must be letters, digits, '_', '-', '.' (no paths)"
        )
    if procedure not in PROCEDURES:
        raise InputError(f"demo procedure {procedure!r} is not one of {', '.join(PROCEDURES)}")
    problems = []
    if not settings.duration_s >= 5.0:
        problems.append(f"duration_s={settings.duration_s} (at least 5 s)")
    if settings.fps < 1:
        problems.append(f"fps={settings.fps} (at least 1)")
    if settings.width < 64 or settings.height < 48 or settings.width % 2 or settings.height % 2:
        problems.append(f"{settings.width}x{settings.height} (even sizes, at least 64x48)")
    if settings.audio_rate_hz < 16000:
        problems.append(f"audio_rate_hz={settings.audio_rate_hz} (at least 16000)")
    if not settings.gaze_rate_hz > 0:
        problems.append(f"gaze_rate_hz={settings.gaze_rate_hz} (positive)")
    if problems:
        raise InputError("demo settings out of range: " + "; ".join(problems))


# -- per-device timing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceTiming:
    device: str
    role: str
    world_start_s: float
    world_end_s: float
    offset_s: float  # t_session = t_device + offset_s
    n_frames: int
    n_audio: int
    clock_start_us: int
    gaze_layout: str | None


def _device_timing(
    settings: DemoSettings, session: str, rng: np.random.Generator
) -> dict[str, DeviceTiming]:
    rate = settings.audio_rate_hz
    # start times on the audio sample grid, so offsets are whole samples
    starts = {d: round(float(rng.uniform(*START_RANGE_S)) * rate) / rate for d, _, _ in DEVICES}
    reference = starts[REFERENCE_DEVICE]
    index = session_index(session)
    out = {}
    for i, (device, role, _kinds) in enumerate(DEVICES):
        # everyone keeps recording a little past the end of the session
        end = reference + settings.duration_s + float(rng.uniform(1.0, 2.5))
        n_frames = int(math.ceil((end - starts[device]) * settings.fps))
        clock_start = int(rng.integers(10**9, 10**11))
        layout = GAZE_LAYOUTS[(index + i) % len(GAZE_LAYOUTS)] if device in HEAD_DEVICES else None
        out[device] = DeviceTiming(
            device=device,
            role=role,
            world_start_s=starts[device],
            world_end_s=starts[device] + n_frames / settings.fps,
            offset_s=starts[device] - reference,
            n_frames=n_frames,
            n_audio=int(round(n_frames * rate / settings.fps)),
            clock_start_us=clock_start,
            gaze_layout=layout,
        )
    return out


# -- writers -------------------------------------------------------------------------------------


def _annotated_tiers(plan: SessionPlan, tasks: Sequence[str]) -> dict[str, list[Any]]:
    """The planned label tiers the session's annotation files hold: those of ``tasks`` (a lab may
    annotate one task only; the truth folder always has the whole plan)."""
    tiers = {STEPS.name: plan.step_tier, STATES.name: plan.state_tier}
    return {tier: intervals for tier, intervals in tiers.items() if tier in tasks}


def _write_annotations(plan: SessionPlan, session: str, path: Path, tasks: Sequence[str]) -> pd.DataFrame:
    rows = [
        {
            "session": session,
            "tier": tier,
            "t_start": iv.t_start,
            "t_end": iv.t_end,
            "label": iv.label,
        }
        for tier, intervals in _annotated_tiers(plan, tasks).items()
        for iv in intervals
    ]
    table = pd.DataFrame(rows, columns=["session", "tier", "t_start", "t_end", "label"])
    table.to_csv(path, sep="\t", index=False, float_format="%.3f")
    return table


def _write_eaf(plan: SessionPlan, path: Path, media: str, tasks: Sequence[str]) -> None:
    """ELAN 3.0 file with a tier per task of ``tasks`` (times in ms on the session clock)."""
    root = ET.Element(
        "ANNOTATION_DOCUMENT",
        {
            "AUTHOR": "egoinstruct demo generator",
            "DATE": "2025-09-26T00:00:00+00:00",  # fixed, so files are reproducible
            "FORMAT": "3.0",
            "VERSION": "3.0",
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xsi:noNamespaceSchemaLocation": "http://www.mpi.nl/tools/elan/EAFv3.0.xsd",
        },
    )
    header = ET.SubElement(root, "HEADER", {"MEDIA_FILE": "", "TIME_UNITS": "milliseconds"})
    # ELAN resolves the relative URL next to the .eaf when the absolute one does not exist
    ET.SubElement(
        header,
        "MEDIA_DESCRIPTOR",
        {
            "MEDIA_URL": f"file:///{media}",
            "MIME_TYPE": "video/mp4",
            "RELATIVE_MEDIA_URL": f"./{media}",
        },
    )
    tiers = _annotated_tiers(plan, tasks)
    n_annotations = sum(len(v) for v in tiers.values())
    ET.SubElement(header, "PROPERTY", {"NAME": "lastUsedAnnotationId"}).text = str(n_annotations)
    slots: list[tuple[int, str, int]] = []  # (ms, tier, order) → slot ids in time order
    for tier, intervals in tiers.items():
        for iv in intervals:
            slots += [(round(iv.t_start * 1000), tier, 0), (round(iv.t_end * 1000), tier, 1)]
    keys = sorted(set(slots))
    slot_id = {key: f"ts{i + 1}" for i, key in enumerate(keys)}
    order = ET.SubElement(root, "TIME_ORDER")
    for key in keys:
        ET.SubElement(order, "TIME_SLOT", {"TIME_SLOT_ID": slot_id[key], "TIME_VALUE": str(key[0])})
    annotation = 0
    for tier, intervals in tiers.items():
        tier_el = ET.SubElement(
            root, "TIER", {"LINGUISTIC_TYPE_REF": "default-lt", "TIER_ID": tier}
        )
        for iv in intervals:
            annotation += 1
            wrapper = ET.SubElement(tier_el, "ANNOTATION")
            aligned = ET.SubElement(
                wrapper,
                "ALIGNABLE_ANNOTATION",
                {
                    "ANNOTATION_ID": f"a{annotation}",
                    "TIME_SLOT_REF1": slot_id[(round(iv.t_start * 1000), tier, 0)],
                    "TIME_SLOT_REF2": slot_id[(round(iv.t_end * 1000), tier, 1)],
                },
            )
            ET.SubElement(aligned, "ANNOTATION_VALUE").text = iv.label
    ET.SubElement(
        root,
        "LINGUISTIC_TYPE",
        {
            "GRAPHIC_REFERENCES": "false",
            "LINGUISTIC_TYPE_ID": "default-lt",
            "TIME_ALIGNABLE": "true",
        },
    )
    constraints = (
        (
            "Time_Subdivision",
            "Time subdivision of parent annotation's time interval, no time gaps allowed within this interval",
        ),
        (
            "Symbolic_Subdivision",
            "Symbolic subdivision of a parent annotation. Annotations refering to the same parent are ordered",
        ),
        ("Symbolic_Association", "1-1 association with a parent annotation"),
        (
            "Included_In",
            "Time alignable annotations within the parent annotation's time interval, gaps are allowed",
        ),
    )
    for stereotype, description in constraints:
        ET.SubElement(root, "CONSTRAINT", {"DESCRIPTION": description, "STEREOTYPE": stereotype})
    ET.indent(root, space="    ")
    path.write_bytes(ET.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n")


def _write_dialogue(plan: SessionPlan, path: Path) -> None:
    table = pd.DataFrame(
        [
            {
                "t_start": u.t_start,
                "t_end": u.t_end,
                "role": u.role,
                "text": u.text,
                "state": u.state,
                "step": u.step,
            }
            for u in plan.utterances
        ],
        columns=["t_start", "t_end", "role", "text", "state", "step"],
    )
    table.to_csv(path, sep="\t", index=False, float_format="%.6f")


@dataclass
class _GazeResult:
    u: np.ndarray
    v: np.ndarray
    depth: np.ndarray
    category: np.ndarray
    kept: np.ndarray
    sample_t_device: np.ndarray


def _write_gaze(
    world: World,
    timing: DeviceTiming,
    camera: CameraModel,
    settings: DemoSettings,
    rng: np.random.Generator,
    path: Path,
    session_uid: str,
) -> _GazeResult:
    duration = timing.n_frames / settings.fps
    n = int(math.floor(duration * settings.gaze_rate_hz - 1e-9)) + 1
    t_device = np.arange(n) / settings.gaze_rate_hz
    u, v, depth, category = world.gaze(
        timing.role, t_device + timing.offset_s, settings.width, settings.height
    )
    kept = rng.random(n) >= GAZE_DROP_RATE
    for _ in range(int(rng.integers(2, 5))):  # short tracking losses (blinks, glasses slipping)
        start = int(rng.integers(0, max(n - 12, 1)))
        kept[start : start + int(rng.integers(3, 12))] = False
    yaw, pitch = camera.gaze_for_pixel(np.stack([u, v], axis=1), depth)
    point = gaze_point_cpf(yaw, pitch, depth)
    X, Y, Z = point[:, 0], point[:, 1], point[:, 2]
    # per-eye rays from eyes at x = ±EYE_X_M meet at the gazed point, so vergence gives depth (and,
    # for gen1_v3, which has no combined yaw, the reader derives the yaw from them)
    table = pd.DataFrame(
        {
            "tracking_timestamp_us": timing.clock_start_us
            + np.round(t_device * 1e6).astype(np.int64),
            "yaw_rad": yaw,
            "pitch_rad": pitch,
            # gen1_v3 has depth_m (MPS caps it at 4 m; the demo's depths stay below); gen1_v2 leaves
            # it empty like real files; gen2 has no such column
            "depth_m": depth if timing.gaze_layout == "gen1_v3" else np.nan,
            "left_yaw_rad": np.arctan((X - EYE_X_M) / Z),
            "right_yaw_rad": np.arctan((X + EYE_X_M) / Z),
            "left_pitch_rad": np.arctan(Y / Z),
            "right_pitch_rad": np.arctan(Y / Z),
            "left_eye_x_m": EYE_X_M,
            "left_eye_y_m": 0.0,
            "left_eye_z_m": 0.0,
            "right_eye_x_m": -EYE_X_M,
            "right_eye_y_m": 0.0,
            "right_eye_z_m": 0.0,
        }
    )
    assert timing.gaze_layout is not None
    write_mps_eye_gaze(table[kept].reset_index(drop=True), path, timing.gaze_layout, session_uid)
    return _GazeResult(u, v, depth, category, kept, t_device)


def _frames_truth(
    world: World, plan: SessionPlan, timing: DeviceTiming, gaze: _GazeResult, settings: DemoSettings
) -> pd.DataFrame:
    n = timing.n_frames
    index = np.arange(n)
    t_frame_device = index / settings.fps
    t = t_frame_device + timing.offset_s
    # the gaze sample nearest to each frame, if within half a sample period and not dropped
    k = np.round(t_frame_device * settings.gaze_rate_hz).astype(np.int64)
    valid = (k < len(gaze.kept)) & (
        np.abs(k / settings.gaze_rate_hz - t_frame_device) <= 0.5 / settings.gaze_rate_hz + 1e-9
    )
    k = np.clip(k, 0, len(gaze.kept) - 1)
    valid &= gaze.kept[k]
    gu = np.where(valid, gaze.u[k], np.nan)
    gv = np.where(valid, gaze.v[k], np.nan)
    gd = np.where(valid, gaze.depth[k], np.nan)
    boxes = np.array(
        [
            world.partner_face_box(timing.role, float(tt), settings.width, settings.height)
            for tt in t
        ]
    )
    with np.errstate(invalid="ignore"):
        in_face = (
            (gu >= boxes[:, 0]) & (gu <= boxes[:, 2]) & (gv >= boxes[:, 1]) & (gv <= boxes[:, 3])
        )
    category = gaze.category[k]
    target = np.where(
        in_face, CATEGORY_NAMES[FACE], np.where(category == WORK, CATEGORY_NAMES[WORK], "other")
    ).astype(object)
    target[~valid] = None
    return pd.DataFrame(
        {
            "t": t.astype(np.float64),
            "frame_index": index.astype(np.int64),
            "gaze_u": gu,
            "gaze_v": gv,
            "gaze_depth_m": gd,
            "gaze_target": pd.array(target, dtype="string"),
            "partner_face_x0": boxes[:, 0],
            "partner_face_y0": boxes[:, 1],
            "partner_face_x1": boxes[:, 2],
            "partner_face_y1": boxes[:, 3],
            "step": pd.array(plan.label_at(STEPS.name, t), dtype="string"),
            "state": pd.array(plan.label_at(STATES.name, t), dtype="string"),
        }
    )


def _render_videos(
    renderer: SceneRenderer,
    timings: dict[str, DeviceTiming],
    wavs: dict[str, Path],
    outputs: dict[str, Path],
    settings: DemoSettings,
    session: str,
) -> None:
    writers: dict[str, VideoWriter] = {}
    try:
        for device, _role, _kinds in DEVICES:
            tm = timings[device]
            writers[device] = VideoWriter(
                outputs[device],
                wavs[device],
                settings.fps,
                settings.width,
                settings.height,
                {
                    "device_clock_start_us": str(tm.clock_start_us),
                    "title": f"egoinstruct demo {session} {device}",
                    "comment": "synthetic demo recording; see truth/truth.json",
                },
            )
        total = max(t.n_frames for t in timings.values())
        report_every = max(total // 10, 1)
        for i in range(total):
            for device, role, _kinds in DEVICES:
                tm = timings[device]
                if i >= tm.n_frames:
                    continue
                t = tm.offset_s + i / settings.fps
                frame = (
                    renderer.exo_frame(t, i) if role == "exo" else renderer.head_frame(role, t, i)
                )
                writers[device].write(frame)
            if (i + 1) % report_every == 0:
                log.info("%s: rendered %d/%d frames", session, i + 1, total)
        for writer in writers.values():
            writer.close()
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise


# -- main entry ----------------------------------------------------------------------------------


def generate_session(
    session: str, procedure: str, root: Path, settings: DemoSettings, with_eaf: bool = False,
    labels_dir: str | Path = LABELS_DIR, tasks: Sequence[str] = TASK_NAMES,
) -> dict[str, Path]:
    """Generate one demo session under ``root/session/`` (see the module docstring), with the
    label sets of ``labels_dir`` and annotation files that label ``tasks``; returns
    :func:`session_files`."""
    began = time.perf_counter()
    _check_settings(session, procedure, settings)
    root = Path(root)
    states = list(load_labels(labels_dir, STATES.name).labels)
    step_labels = list(load_labels(labels_dir, STEPS.name, procedure).labels)
    needed_states = {
        "instructor_explains",
        "instructor_demonstrates",
        "learner_asks",
        "instructor_answers",
        "confirmation",
        "silent_work",
    }
    if not needed_states <= set(states):
        raise InputError(
            f"{label_file(labels_dir, STATES.name)} lacks state(s) {', '.join(sorted(needed_states - set(states)))}"
        )
    if not step_labels or step_labels[0] != "background":
        raise InputError(
            f"{label_file(labels_dir, STEPS.name, procedure)}: the first label must be 'background'"
        )
    steps = step_labels[1:]

    seeds = np.random.SeedSequence([settings.seed, zlib.crc32(session.encode())])
    s_plan, s_timing, s_world, s_scene, s_sounds, s_noise, s_gaze, s_calib = seeds.spawn(8)
    rate = settings.audio_rate_hz

    # speech: the procedure's whole sentence bank, in a fixed order (see speech.py on why)
    bank = sentence_bank(procedure)
    clips = dict(
        zip(bank, synthesize([(VOICES[role], text) for role, text in bank], rate), strict=True)
    )
    durations: dict[Line, float] = {line: len(clip) / rate for line, clip in clips.items()}
    try:
        plan = plan_session(
            procedure, steps, settings.duration_s, durations, np.random.default_rng(s_plan)
        )
    except ValueError as exc:
        raise InputError(f"demo session {session}: {exc}") from exc

    timings = _device_timing(settings, session, np.random.default_rng(s_timing))
    t_min = min(t.offset_s for t in timings.values())
    t_max = max(t.offset_s + t.n_frames / settings.fps for t in timings.values())
    tracks = {
        role: [
            Placed(u.t_start, clips[(u.role, u.text)]) for u in plan.utterances if u.role == role
        ]
        for role in ("instructor", "learner")
    }
    envelopes = speech_envelopes(tracks, rate, t_min - 1.0, t_max + 1.0)
    world_rng = np.random.default_rng(s_world)
    world = World(
        plan,
        geometry_for(procedure, world_rng),
        world_rng,
        envelopes,
        (t_min, t_max),
        L.frame_scale(settings.width),
    )
    events = world.sound_events()
    sources = {**tracks, "work": work_track(events, np.random.default_rng(s_sounds), rate)}

    files = session_files(session, root, with_eaf)
    base = root / session
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{session}.", dir=root))
    try:
        staged = {key: tmp / path.relative_to(base) for key, path in files.items()}
        for path in staged.values():
            path.parent.mkdir(parents=True, exist_ok=True)

        # audio, one WAV per device (inputs to the encoder, not outputs)
        devices_audio = [
            DeviceAudio(
                name=d,
                offset_s=timings[d].offset_s,
                n_samples=timings[d].n_audio,
                sources=_HEARING[d],
                channel_gains=(1.0 + float(g[0]), 1.0 - float(g[1])),
            )
            for d, g in zip(
                (d for d, _, _ in DEVICES),
                np.random.default_rng(s_noise).uniform(0.0, 0.06, size=(len(DEVICES), 2)),
                strict=True,
            )
        ]
        wavs = {d: tmp / f"{d}.wav" for d, _, _ in DEVICES}
        noise_seeds = dict(
            zip((d for d, _, _ in DEVICES), s_noise.spawn(len(DEVICES)), strict=True)
        )
        audio_gain = Mixer(sources, rate).write_wavs(devices_audio, wavs, noise_seeds)

        # calibration, eye gaze and per-frame truth of the head cameras
        calib_rng = np.random.default_rng(s_calib)
        gaze_rng = np.random.default_rng(s_gaze)
        session_uid = str(uuid.UUID(bytes=gaze_rng.bytes(16), version=4))
        cameras: dict[str, CameraModel] = {}
        gaze_counts: dict[str, tuple[int, int]] = {}
        for device in HEAD_DEVICES:
            camera = L.head_camera(settings.width, settings.height, calib_rng)
            cameras[device] = camera
            camera.to_json(staged[f"calibration_{device}"])
            gaze = _write_gaze(
                world,
                timings[device],
                camera,
                settings,
                gaze_rng,
                staged[f"gaze_{device}"],
                session_uid,
            )
            gaze_counts[device] = (len(gaze.kept), int((~gaze.kept).sum()))
            frames = _frames_truth(world, plan, timings[device], gaze, settings)
            frames.to_parquet(staged[f"frames_{device}"], index=False)

        # annotations and truth
        _write_annotations(plan, session, staged["annotations"], tasks)
        if with_eaf:
            _write_eaf(plan, staged["annotations_eaf"], f"{REFERENCE_DEVICE}.mp4", tasks)
        _write_dialogue(plan, staged["dialogue"])
        truth = _truth(
            session,
            procedure,
            settings,
            plan,
            timings,
            gaze_counts,
            audio_gain,
            len(events),
            files,
            base,
        )
        staged["truth"].write_text(json.dumps(truth, indent=2) + "\n")

        # videos last: the slow part
        renderer = SceneRenderer(
            world, np.random.default_rng(s_scene), settings.width, settings.height, procedure
        )
        _render_videos(
            renderer,
            timings,
            wavs,
            {d: staged[f"video_{d}"] for d, _, _ in DEVICES},
            settings,
            session,
        )

        # all complete: move into place
        for key, path in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged[key], path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info(
        "%s: generated %.0f s of %s in %.1f s",
        session,
        settings.duration_s,
        procedure,
        time.perf_counter() - began,
    )
    return files


def _truth(
    session: str,
    procedure: str,
    settings: DemoSettings,
    plan: SessionPlan,
    timings: dict[str, DeviceTiming],
    gaze_counts: dict[str, tuple[int, int]],
    audio_gain: float,
    n_events: int,
    files: dict[str, Path],
    base: Path,
) -> dict[str, object]:
    devices: dict[str, object] = {}
    for device, role, _kinds in DEVICES:
        tm = timings[device]
        entry: dict[str, object] = {
            "role": role,
            "kind": "aria" if device in HEAD_DEVICES else "gopro",
            "world_start_s": tm.world_start_s,
            "world_end_s": tm.world_end_s,
            "offset_s": tm.offset_s,
            "device_clock_start_us": tm.clock_start_us,
            "n_frames": tm.n_frames,
            "n_audio_samples": tm.n_audio,
            "video": str(files[f"video_{device}"].relative_to(base)),
            "voice": VOICES.get(role),
            "hears": {
                name: {
                    "gain_db": round(20 * math.log10(mix.gain), 2),
                    "delay_ms": round(1000 * mix.distance_m / 343.0, 3),
                    "muffled": mix.muffled,
                }
                for name, mix in _HEARING[device].items()
            },
        }
        if device in HEAD_DEVICES:
            entry.update(
                {
                    "gaze_layout": tm.gaze_layout,
                    "gaze_csv": str(files[f"gaze_{device}"].relative_to(base)),
                    "calibration": str(files[f"calibration_{device}"].relative_to(base)),
                    "gaze_samples": gaze_counts[device][0],
                    "gaze_samples_dropped": gaze_counts[device][1],
                    "truth_frames": str(files[f"frames_{device}"].relative_to(base)),
                }
            )
        devices[device] = entry
    settings_dict = {k: v for k, v in settings.to_mapping().items() if k not in _WORKFLOW_KEYS}
    return {
        "generator": "egoinstruct.demo",
        "format_version": 1,
        "session": session,
        "procedure": procedure,
        "duration_s": settings.duration_s,
        "seed": settings.seed,
        "settings": settings_dict,
        "clock": {
            "reference_device": REFERENCE_DEVICE,
            "note": (
                "t_session = t_device + offset_s, where t_device is seconds since that device's first "
                "video frame; for eye gaze t_device = (tracking_timestamp_us - device_clock_start_us) / 1e6. "
                "t_session = 0 is the first frame of the reference device; offset_s = world_start_s - "
                "world_start_s(reference). A device that starts after the reference has no data for "
                "t_session < offset_s. Acoustic delays (delay_ms under hears) come on top of the clock offsets."
            ),
        },
        "gaze_depth_m": {
            "partner_face": L.DEPTH_FACE_M,
            "workspace": L.DEPTH_WORK_M,
            "wall": L.DEPTH_WALL_M,
            "table_item": L.DEPTH_TABLE_ITEM_M,
        },
        "speech": {
            role: {"voice": voice, "rate_wpm": RATES_WPM[voice]} for role, voice in VOICES.items()
        },
        "audio_gain": audio_gain,
        "counts": {
            "utterances": len(plan.utterances),
            "activities": len(plan.activities),
            "work_sounds": n_events,
            "steps_reached": sorted(
                {iv.label for iv in plan.step_tier} - {"background"}, key=plan.steps.index
            ),
        },
        "devices": devices,
    }

"""Precise reruns: after a change, a dry run schedules exactly the jobs that depend on it.

A finished run is simulated cheaply: every output of the DAG is created empty and
``snakemake --touch`` records it (with its params and code) as made in DAG order. Each test then
makes one change — an annotation file, an MLLM prompt template, an MLLM backend module, the
frame or face rate — and reads the job list of ``snakemake -n``. The change is undone afterwards (the
metadata of a dry run is not written), so the tests share one simulated run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from egoinstruct.codeversion import PACKAGE_DIR

from workflow_utils import make_workdir, planned_jobs, snakemake

pytestmark = pytest.mark.slow

SESSIONS = ["s01", "s02", "s03"]
PREPROCESSING = {
    "demo_session", "probe_device", "device_audio", "sync_device", "sync_session", "session_audio",
    "audio_alignment", "analysis_video", "frames", "transcribe", "prosody", "faces", "gaze", "head_motion",
    "visual_features", "gaze_plot",
}
# the MLLM inference jobs and what reads their outputs (the target rule `all` is listed whenever anything reruns)
MLLM_AND_CONSUMERS = {"mllm_predict_steps", "mllm_predict_states", "mllm_summary", "mllm_overview",
                      "evaluate", "report", "all"}


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = make_workdir(tmp_path_factory.mktemp("reruns"), SESSIONS)
    config_path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["folds"]["k"] = 3
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    summary = snakemake(workdir, "--summary").stdout.splitlines()
    outputs = [line.split("\t")[0] for line in summary[1:] if "\t" in line]
    assert len(outputs) > 100
    for name in outputs:
        path = workdir / name
        if not path.suffix:  # directory() outputs (the report's tables/, timelines/)
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    # --forceall: every job is "run", so every job's params and code are recorded
    snakemake(workdir, "--touch", "--forceall", "--cores", "1")
    assert planned_jobs(workdir) == []
    return workdir


@pytest.fixture
def restore_config(finished: Path) -> Iterator[Path]:
    path = finished / "config" / "config.yaml"
    original = path.read_text()
    yield path
    path.write_text(original)


def _folds(workdir: Path) -> dict[str, int]:
    """The fold assignment the workflow plans with (the same function writes folds.json)."""
    from egoinstruct.folds import assign_folds

    sheet = (workdir / "config" / "annotations.tsv").read_text().splitlines()[1:]
    procedures = {line.split("\t")[0]: line.split("\t")[1] for line in sheet}
    return assign_folds(procedures, 3, 0)


def test_changed_annotation_reruns_only_what_depends_on_it(finished: Path) -> None:
    sheet = (finished / "config" / "annotations.tsv").read_text().splitlines()
    annotation = finished / next(line.split("\t")[2] for line in sheet if line.startswith("s02\t"))
    original = annotation.read_bytes()
    annotation.write_bytes(original + b"\n")  # a real edit: mtime and content change
    try:
        jobs = planned_jobs(finished)
    finally:
        annotation.write_bytes(original)
        snakemake(finished, "--touch", "--cores", "1")
    rules = {rule for rule, _ in jobs}
    assert not rules & PREPROCESSING, rules & PREPROCESSING
    assert not {r for r in rules if r.startswith("mllm_predict")}  # zero-shot inference never reruns
    assert [w["session"] for r, w in jobs if r == "assemble"] == ["s02"]
    assert [w["session"] for r, w in jobs if r == "validate_session"] == ["s02"]
    fold_of = _folds(finished)
    own = fold_of["s02"]
    for rule in ("train_steps", "train_states"):
        trained = {int(w["fold"]) for r, w in jobs if r == rule}
        # every fold whose training set holds s02, never the fold that tests it
        assert trained == {f for f in range(3) if f != own}, (rule, trained)
    predicted = {w["session"] for r, w in jobs if r.startswith("predict_")}
    assert predicted == {s for s in SESSIONS if fold_of[s] != own} | {"s02"}
    assert {"evaluate", "report"} <= rules


def test_changed_prompt_template_reruns_only_the_mllm_jobs(finished: Path, restore_config: Path) -> None:
    config = yaml.safe_load(restore_config.read_text())
    config["mllm"]["models"]["gemma3-270m"]["prompt_version"] = "chat-v1"
    restore_config.write_text(yaml.safe_dump(config, sort_keys=False))
    rules = {rule for rule, _ in planned_jobs(finished)}
    assert {"mllm_predict_steps", "mllm_predict_states"} <= rules
    assert rules <= MLLM_AND_CONSUMERS, rules


def test_changed_mllm_backend_module_reruns_only_the_mllm_jobs(finished: Path) -> None:
    # the backends are imported by name (importlib), not by an import statement: the code digest
    # of the MLLM script must still cover them
    backend = PACKAGE_DIR / "mllm" / "backends" / "openai_server.py"
    original = backend.read_bytes()
    edit = b"\n# a test edit (tests/test_reruns.py), taken out again\n"  # a real edit: the content changes
    try:
        backend.write_bytes(original + edit)
        jobs = planned_jobs(finished)
    finally:
        # the original bytes; taking out only our line keeps an edit someone made meanwhile
        current = backend.read_bytes()
        backend.write_bytes(current.replace(edit, b"", 1) if edit in current else original)
    rules = {rule for rule, _ in jobs}
    assert {"mllm_predict_steps", "mllm_predict_states"} <= rules
    assert rules <= MLLM_AND_CONSUMERS, rules - MLLM_AND_CONSUMERS


def test_changed_frame_rate_reruns_frames_and_their_consumers_only(finished: Path, restore_config: Path) -> None:
    config = yaml.safe_load(restore_config.read_text())
    config["frames"]["fps"] = 5  # divides the analysis stream's 10 fps: the stream stays
    restore_config.write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = planned_jobs(finished)
    rules = {rule for rule, _ in jobs}
    assert "frames" in rules
    assert len([1 for r, _ in jobs if r == "frames"]) == 9  # 3 sessions x 3 cameras
    # the demo's MLLM is text-only, so nothing reads the frames tables yet but the report
    assert rules <= {"frames", "evaluate", "report", "all"}, rules


def test_changed_face_rate_reruns_faces_not_the_stream_or_other_stages(finished: Path, restore_config: Path) -> None:
    config = yaml.safe_load(restore_config.read_text())
    config["gaze"]["faces"]["fps"] = 5
    restore_config.write_text(yaml.safe_dump(config, sort_keys=False))
    rules = {rule for rule, _ in planned_jobs(finished)}
    assert "faces" in rules and "gaze" in rules
    # the stream and its other readers stay (head_motion reruns: its input, the gaze probe, is
    # validated with the whole gaze section, faces included)
    assert not rules & {"analysis_video", "frames", "visual_features"}, rules


def test_rate_the_stream_cannot_serve_reruns_the_stream_and_every_reader(finished: Path, restore_config: Path) -> None:
    config = yaml.safe_load(restore_config.read_text())
    config["frames"]["fps"] = 4  # the stream goes from 10 to 20 fps (least common multiple)
    restore_config.write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = planned_jobs(finished)
    assert len([1 for r, _ in jobs if r == "analysis_video"]) == 9
    assert {"frames", "faces", "head_motion", "visual_features"} <= {rule for rule, _ in jobs}

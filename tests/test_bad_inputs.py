"""Bad inputs, tried as a new user would, through the real workflow: each stops at the door with
one clear message, and nothing is built on it.

Every case starts from a copy of one prepared run (two short demo sessions, probed and
synchronised, as real data: demo.enabled false), breaks one input, runs the targets that need it,
and checks that the run fails, that the message names the file (or key) and says what to do,
that the output fits on one screen, and that neither the failed job's output nor anything
downstream of it exists. Cases caught at parse time (sheets, config) run a dry run. The growing
list of cases is the project's bad-input suite; add one for every new way in.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml

from egoinstruct.media.ffmpeg import ffmpeg_executable

from workflow_utils import make_workdir, snakemake

pytestmark = pytest.mark.slow

SESSIONS = ["s01", "s02"]
DEMO = "resources/demo"
# A failed run's whole output (Snakemake's job headers included) must fit on one screen.
SCREEN_LINES = 60


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 10 s demo sessions, every device probed and each session's clock made, then switched
    to real-data mode (the files are plain inputs; nothing regenerates them)."""
    workdir = make_workdir(tmp_path_factory.mktemp("prepared"), SESSIONS, duration_s=10)
    snakemake(workdir, "--cores", "2", *[f"results/sessions/{s}/sync.json" for s in SESSIONS],
              *[f"results/sessions/{s}/gaze_probe/{d}.json" for s in SESSIONS for d in ("instructor_aria", "learner_aria")])
    _edit_config(workdir, lambda c: c["demo"].__setitem__("enabled", False))
    return workdir


@pytest.fixture
def workdir(prepared: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "wd"
    shutil.copytree(prepared, copy, symlinks=True)
    return copy


def _edit_config(workdir: Path, change: Callable[[dict], object]) -> None:
    path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    change(config)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def _fails(workdir: Path, *targets: str, dry: bool = False) -> str:
    args = ["-n", *targets] if dry else ["--cores", "2", "--keep-going", *targets]
    result = snakemake(workdir, *args, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output  # one paragraph, never a Python traceback
    failure = _failure_output(output)
    assert len(failure) <= SCREEN_LINES, f"{len(failure)} lines:\n" + "\n".join(failure)
    FAILURE_LINES.append(len(failure))
    return output


# Lines of every failure seen by this module (the one-screen measure; printed at the end).
FAILURE_LINES: list[int] = []


# Progress that is not about the failure: other jobs starting and finishing, log lines of
# successful work, the run's banner.
_PROGRESS = re.compile(
    r"^(\[\w{3} \w{3} +\d+ [\d:]+ \d{4}\]|Finished jobid: \d+|\d+ of \d+ steps|Select jobs to execute|Execute \d+ jobs"
    r"|\S+ \S+ (INFO|WARNING) |Building DAG|Using shell|Provided cores|Rules claiming|Job stats|job +count|-+ +-+"
    r"|\w+ +\d+$|total +\d+$|Assuming unrestricted|Using workflow specific profile|SNAKEMAKE$|=+$|  (Date|Workflow ID|Platform|"
    r"Host|User|Snakemake version|Python version|Command|Snakefile|Base directory|Run directory|Working directory|"
    r"Config file|Config MD5):)")


def _failure_output(output: str) -> list[str]:
    """What a user reads about the failure: the run's output without the blocks of jobs that
    finished and without ordinary progress lines."""
    finished = set(re.findall(r"Finished jobid: (\d+)", output))
    lines = [line for line in output.splitlines() if line.strip()]
    kept, skipping = [], False
    for index, line in enumerate(lines):
        if re.match(r"^(local)?rule \w+:$", line):
            block = lines[index + 1:index + 12]
            jobid = next((m.group(1) for m in (re.match(r"^\s+jobid: (\d+)", b) for b in block) if m), None)
            skipping = jobid in finished
            if skipping:
                continue
        elif skipping and line.startswith((" ", "\t")):
            continue
        else:
            skipping = False
        if not _PROGRESS.match(line):
            kept.append(line)
    return kept


def _absent(workdir: Path, *paths: str) -> None:
    for path in paths:
        assert not (workdir / path).exists(), path
    # no hidden temporary of a failed writer either
    assert not list((workdir / "results").rglob(".*.*.*")), list((workdir / "results").rglob(".*.*.*"))


# --- annotations ------------------------------------------------------------------------------


def test_unknown_label_stops_validation_and_everything_scored_on_it(workdir):
    path = workdir / DEMO / "s02" / "annotations.tsv"
    table = pd.read_csv(path, sep="\t")
    table.loc[table.tier == "states", "label"] = table.loc[table.tier == "states", "label"].replace(
        "instructor_explains", "instructor_explain")
    table.to_csv(path, sep="\t", index=False)
    output = _fails(workdir, "results/sessions/s02/annotations.parquet")
    assert re.search(r"s02/annotations.tsv: line \d+ \(tier states.*unknown label 'instructor_explain'; known labels",
                     output), output
    _absent(workdir, "results/sessions/s02/probe.json", "results/sessions/s02/annotations.parquet")
    # evaluation, training and MLLM scoring read the validated table only: they come after this job
    plan = snakemake(workdir, "-n", "results/metrics/states/main.csv", "results/mllm/summary.tsv").stdout
    assert re.search(r"rule validate_session:(?:(?!\nrule ).)*wildcards: session=s02", plan, re.S)
    assert "annotations.tsv" not in _inputs_of(plan, "evaluate") + _inputs_of(plan, "mllm_summary")


def _inputs_of(plan: str, rule: str) -> str:
    return " ".join(re.findall(rf"rule {rule}:\n\s+input: ([^\n]*)", plan))


def test_elan_time_value_that_is_not_a_number(workdir):
    path = workdir / DEMO / "s01" / "annotations.eaf"
    text = path.read_text()
    value = re.search(r'TIME_VALUE="(\d+)"', text).group(1)
    path.write_text(text.replace(f'TIME_VALUE="{value}"', 'TIME_VALUE="1,5"', 1))
    output = _fails(workdir, "results/sessions/s01/annotations.parquet")
    assert re.search(r"s01/annotations.eaf: TIME_SLOT \w+: TIME_VALUE '1,5' is not a time; ELAN time values are "
                     r"milliseconds", output), output
    _absent(workdir, "results/sessions/s01/probe.json")


# --- media ---------------------------------------------------------------------------------------


def test_video_cut_short_after_its_index_stops_at_its_probe(workdir):
    video = workdir / DEMO / "s02" / "exo_gopro.mp4"
    faststart = video.with_name("fast.mp4")
    subprocess.run([ffmpeg_executable(), "-v", "error", "-i", str(video), "-c", "copy", "-movflags", "+faststart",
                    str(faststart)], check=True)
    video.write_bytes(faststart.read_bytes()[: int(faststart.stat().st_size * 0.6)])
    faststart.unlink()
    output = _fails(workdir, "results/sessions/s02/probe/exo_gopro.json")
    assert re.search(r"recordings.tsv: line \d+ \(s02/exo_gopro, video\): .*exo_gopro.mp4: the (video|audio) stream "
                     r"ends early .*copy or export it again", output), output
    _absent(workdir, "results/sessions/s02/probe/exo_gopro.json")


def _fresh(workdir: Path, session: str) -> None:
    """As in a first run: the session's clock not made yet (the fixture made it)."""
    for path in ("sync.json", "sync.png", "sync"):
        target = workdir / "results" / "sessions" / session / path
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)


def test_audio_of_another_session_is_not_synchronised_with_confidence(workdir):
    _fresh(workdir, "s02")
    shutil.copyfile(workdir / DEMO / "s01" / "learner_aria.mp4", workdir / DEMO / "s02" / "learner_aria.mp4")
    output = _fails(workdir, "results/sessions/s02/sync.json")
    assert re.search(r"recordings.tsv: session s02: .*learner_aria.*(only weakly|stretches of it land elsewhere)"
                     r".*offset_s column", output, re.S), output
    _absent(workdir, "results/sessions/s02/sync/learner_aria.json", "results/sessions/s02/sync.json")


def test_a_wrong_sheet_offset_is_caught_by_the_other_devices(workdir):
    _fresh(workdir, "s02")
    truth = json.loads((workdir / DEMO / "s02" / "truth" / "truth.json").read_text())
    sheet = workdir / "config" / "recordings.tsv"
    table = pd.read_csv(sheet, sep="\t", dtype=str, keep_default_na=False)
    table["offset_s"] = ""
    table.loc[(table.session == "s02") & (table.device == "learner_aria"), "offset_s"] = str(
        truth["devices"]["learner_aria"]["offset_s"] + 0.3)
    table.to_csv(sheet, sep="\t", index=False)
    output = _fails(workdir, "results/sessions/s02/sync.json")
    assert re.search(r"session s02: the clocks of \w+ and \w+ disagree.*one of them is synchronised wrongly", output), output
    assert "learner_aria" in output
    _absent(workdir, "results/sessions/s02/sync.json", "results/sessions/s02/audio/learner_aria.wav")


# --- eye gaze ------------------------------------------------------------------------------------

GAZE = f"{DEMO}/s02/learner_aria/mps/eye_gaze/general_eye_gaze.csv"


@pytest.mark.parametrize("edit,message", [
    (lambda lines: lines[:1] + lines[:0:-1], r"backward tracking_timestamp_us values .*not one recording in time order"),
    (lambda lines: lines[:1], r"a header but no samples"),
    (lambda lines: lines[:7] + [lines[7] + ",0.1"] + lines[8:], r"malformed CSV \(.*line 8.*\).*restore it"),
], ids=["reversed", "header-only", "malformed-row"])
def test_a_broken_gaze_file_stops_gaze_not_the_devices_audio_and_frames(workdir, edit, message):
    path = workdir / GAZE
    path.write_text("\n".join(edit(path.read_text().splitlines())) + "\n")
    output = _fails(workdir, "results/sessions/s02/gaze/learner_aria.parquet",
                    "results/sessions/s02/frames/learner_aria.parquet", "results/sessions/s02/audio/learner_aria.wav")
    assert re.search(r"recordings.tsv: line \d+ \(s02/learner_aria, gaze_csv\): .*general_eye_gaze.csv: .*" + message,
                     output), output
    _absent(workdir, "results/sessions/s02/gaze_probe/learner_aria.json", "results/sessions/s02/gaze/learner_aria.parquet")
    # what does not need the gaze file is made
    assert (workdir / "results/sessions/s02/frames/learner_aria.parquet").exists()
    assert (workdir / "results/sessions/s02/audio/learner_aria.wav").exists()


# --- sheets and config, before any job ----------------------------------------------------------------


def _sheet(workdir: Path, change: Callable[[pd.DataFrame], object]) -> None:
    path = workdir / "config" / "recordings.tsv"
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    change(table)
    table.to_csv(path, sep="\t", index=False)


@pytest.mark.parametrize("change,message", [
    (lambda t: t.__setitem__("path", t.path.where(t.device != "exo_gopro", t.path.str.rsplit("/", n=1).str[0])),
     r"recordings.tsv: line \d+, column path: resources/demo/s01 is a folder, not a file"),
    (lambda t: t.__setitem__("role", t.role.where(t.device != "exo_gopro", "instructor")),
     r"session s01 must have exactly one device with role instructor .*found instructor_aria \(line 2\), exo_gopro "
     r"\(line \d+\)"),
    (lambda t: t.__setitem__("session", t.session.replace("s02", "s 02")),
     r"column session = 's 02'.*letters, digits, '_' and '-' only"),
], ids=["folder", "two-references", "bad-id"])
def test_bad_sample_sheets_stop_before_any_job(workdir, change, message):
    _sheet(workdir, change)
    output = _fails(workdir, dry=True)
    assert re.search(message, output), output


def test_an_empty_file_is_named_before_any_job(workdir):
    (workdir / DEMO / "s02" / "exo_gopro.mp4").write_bytes(b"")
    output = _fails(workdir, dry=True)
    assert re.search(r"line \d+, column path: resources/demo/s02/exo_gopro.mp4 is empty \(0 bytes\)", output), output


def test_a_mistyped_path_under_the_demo_folder_in_demo_mode(workdir):
    _edit_config(workdir, lambda c: c["demo"].__setitem__("enabled", True))
    _sheet(workdir, lambda t: t.__setitem__("path", t.path.str.replace("learner_aria.mp4", "learner_ari.mp4")))
    output = _fails(workdir, "results/sessions/s01/probe.json", dry=True)
    assert re.search(r"line \d+, column path: resources/demo/s01/learner_ari.mp4 is under the demo folder "
                     r"resources/demo, but the demo generator makes no such file", output), output


@pytest.mark.parametrize("edit,message", [
    (lambda text: text.replace("  max_lag_s: 30", "  max_lag_s: 30\n  max_lags: 3"),
     r"sync.max_lags: unknown key; did you mean 'max_lag_s'"),
    (lambda text: text.replace("  max_lag_s: 30", "  max_lag_s: [30"), r"config/config.yaml: line \d+, column \d+: not "
                                                                      r"valid YAML"),
    (lambda text: text.replace("          preset: demo", "          preset: demo\n          learning_rate: 5e-4", 1),
     r"learning_rate: '5e-4' is text, not a number .*write 5.0e-4"),
    (lambda text: text.replace("  window_s: 8\n  hop_s: 4", "  window_s: 8\n  hop_s: 12", 1),  # mllm comes first
     r"mllm.hop_s \(12\) must be at most mllm.window_s"),
], ids=["unknown-key", "yaml-syntax", "exponent-as-text", "cross-key"])
def test_bad_config_stops_before_any_job_in_a_few_lines(workdir, edit, message):
    path = workdir / "config" / "config.yaml"
    text = path.read_text()
    edited = edit(text)
    assert edited != text, "the edit must apply to the scratch config"
    path.write_text(edited)
    output = _fails(workdir, dry=True)
    assert re.search(message, output), output
    assert len([line for line in output.splitlines() if line.strip()]) <= 12, output
    assert "additionalProperties" not in output and "$defs" not in output  # no schema dump


# --- interrupted jobs ----------------------------------------------------------------------------


def test_a_killed_jobs_temporary_is_removed_when_the_job_runs_again(workdir):
    folder = workdir / "results" / "sessions" / "s01" / "probe"
    (folder / "exo_gopro.json").unlink()
    stale = folder / ".exo_gopro.json.k1ll3d.json"
    stale.write_text('{"half": ')
    snakemake(workdir, "--cores", "1", "results/sessions/s01/probe/exo_gopro.json")
    assert not stale.exists() and json.loads((folder / "exo_gopro.json").read_text())["device"] == "exo_gopro"


def test_failures_fit_on_one_screen():
    """The measure over the suite (runs last in this module): every failure above fit."""
    if FAILURE_LINES:
        print(f"\nfailure output over {len(FAILURE_LINES)} bad inputs: at most {max(FAILURE_LINES)} lines, "
              f"median {sorted(FAILURE_LINES)[len(FAILURE_LINES) // 2]}")
        assert max(FAILURE_LINES) <= SCREEN_LINES

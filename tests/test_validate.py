import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from egoinstruct.errors import InputError, MissingModelError
from egoinstruct.gaze.mps import write_mps_eye_gaze
from egoinstruct.media.ffmpeg import ffmpeg_executable
from egoinstruct.media.probe import probe_media
from egoinstruct.settings.gaze import GazeSettings
from egoinstruct.settings.validation import AnnotationChecks
from egoinstruct.settings.workflow import defaults_for
from egoinstruct.sheet import HEAD_INPUT_KINDS, read_recordings
from egoinstruct.tasks import TASK_NAMES
from egoinstruct.validate import inputs_overview, probe_device, probe_head_inputs, validate_session

from conftest import make_video, write_tsv

HEADER = ["session", "device", "role", "kind", "path"]


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    make_video(root / "ins.mp4", duration_s=6.0)
    make_video(root / "lea.mp4", duration_s=6.0)
    make_video(root / "mute.mp4", duration_s=6.0, audio=False)
    n = 60
    gaze = pd.DataFrame({"tracking_timestamp_us": 5_000_000 + np.arange(n) * 100_000,
                         "yaw_rad": np.zeros(n), "pitch_rad": np.zeros(n)})
    write_mps_eye_gaze(gaze, root / "gaze.csv", "gen1_v2")
    return root


def _session(tmp_path, media, rows=None, annotations=None):
    rows = rows or [
        ["s1", "ins", "instructor", "video", media / "ins.mp4"],
        ["s1", "ins", "instructor", "gaze_csv", media / "gaze.csv"],
        ["s1", "lea", "learner", "video", media / "lea.mp4"],
        ["s1", "exo", "exo", "video", media / "mute.mp4"],
    ]
    recordings = read_recordings(write_tsv(tmp_path / "r.tsv", HEADER, rows))
    ann_rows = pd.DataFrame(columns=["session", "procedure", "path", "line"])
    if annotations is not None:
        path = write_tsv(tmp_path / "a.tsv", ["session", "tier", "t_start", "t_end", "label"], annotations)
        ann_rows = pd.DataFrame([{"session": "s1", "procedure": "block_assembly", "path": str(path), "line": 2}])
    return recordings, ann_rows


GAZE = defaults_for(GazeSettings)


def _probes(recordings, sheet_path="r.tsv"):
    """What the probe_device and probe_head jobs write for every device."""
    by_device = list(recordings.groupby("device", sort=False))
    media = [probe_device(rows, sheet_path) for _, rows in by_device]
    heads = [probe_head_inputs(rows, GAZE, sheet_path) for _, rows in by_device if rows.kind.isin(HEAD_INPUT_KINDS).any()]
    return media, heads


def _validate(session, recordings, ann, labels_dir="resources/labels", sheet_path="r.tsv"):
    media, heads = _probes(recordings, sheet_path)
    rows = ann[ann.session == session]
    procedure = rows.procedure.iloc[0] if len(rows) else None
    probe, _ = validate_session(session, media, heads, list(rows.path), [list(TASK_NAMES)] * len(rows), procedure,
                                labels_dir, "instructor", defaults_for(AnnotationChecks))
    return probe


def test_probe_reports_streams(media):
    probe = probe_media(media / "ins.mp4")
    assert probe["video"]["width"] == 64 and probe["video"]["height"] == 48
    assert abs(probe["video"]["fps"] - 15) < 1e-6
    assert probe["audio"]["sample_rate_hz"] == 48000 and probe["audio"]["channels"] == 2
    assert abs(probe["video"]["duration_s"] - 6.0) < 0.1
    assert probe_media(media / "mute.mp4")["audio"] is None


def test_validate_session_inventory(tmp_path, media, repo_root):
    recordings, ann = _session(tmp_path, media, annotations=[
        ["s1", "steps", 0, 6, "background"], ["s1", "states", 0, 3, "instructor_explains"],
        ["s1", "states", 3, 6, "silent_work"]])
    probe = _validate("s1", recordings, ann, repo_root / "resources" / "labels")
    assert probe["reference_device"] == "ins"
    assert abs(probe["session_duration_s"] - 6.0) < 0.1
    gaze = probe["devices"]["ins"]["inputs"]["gaze_csv"]
    assert gaze["layout"] == "gen1_v2" and gaze["n_samples"] == 60 and abs(gaze["rate_hz"] - 10) < 1e-6
    assert probe["annotations"]["tiers"]["states"]["n_segments"] == 2
    # the exo camera has no audio: a warning that says what to do, not an error
    assert any("exo has no audio" in w and "offset_s" in w for w in probe["warnings"])
    overview = inputs_overview([probe])
    assert list(overview.device) == ["ins", "lea", "exo"] and overview.reference.tolist() == [True, False, False]


def test_every_annotation_file_of_a_session_is_checked(tmp_path, media, repo_root):
    recordings, _ = _session(tmp_path, media)
    header = ["session", "tier", "t_start", "t_end", "label"]
    steps = write_tsv(tmp_path / "steps.tsv", header, [["s1", "steps", 0, 6, "background"]])
    states = write_tsv(tmp_path / "states.tsv", header, [["s1", "states", 0, 3, "instructor_explains"],
                                                        ["s1", "states", 3, 6, "silent_work"]])
    media, heads = _probes(recordings)
    labels = repo_root / "resources" / "labels"
    checks = defaults_for(AnnotationChecks)
    probe, segments = validate_session("s1", media, heads, [str(steps), str(states)], [["steps"], ["states"]],
                                       "block_assembly", labels, "learner", checks)
    assert probe["reference_device"] == "lea"  # the configured reference role
    # the validated table every later stage reads: both files' segments, with where each came from
    assert len(segments) == 3 and set(segments.source) == {str(steps), str(states)}
    assert probe["annotations"]["paths"] == [str(steps), str(states)]
    assert {t: v["n_segments"] for t, v in probe["annotations"]["tiers"].items()} == {"steps": 1, "states": 2}
    # a bad label in the second file is found as well
    bad = write_tsv(tmp_path / "bad.tsv", header, [["s1", "states", 0, 6, "juggling"]])
    with pytest.raises(InputError, match=r"bad\.tsv.*juggling"):
        validate_session("s1", media, heads, [str(steps), str(bad)], [["steps"], ["states"]], "block_assembly", labels,
                         "instructor", checks)


def test_unreadable_video_names_file_and_line(tmp_path, media):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).integers(0, 255, 5000, dtype=np.uint8).tobytes())
    rows = [["s1", "ins", "instructor", "video", media / "ins.mp4"], ["s1", "lea", "learner", "video", junk]]
    recordings, ann = _session(tmp_path, media, rows=rows)
    with pytest.raises(InputError, match=r"r.tsv: line 3 \(s1/lea, video\): .*junk.mp4: FFmpeg cannot read it"):
        _validate("s1", recordings, ann)


def test_truncated_video_is_an_error(tmp_path, media):
    data = (media / "lea.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])  # moov atom at the end is lost
    rows = [["s1", "ins", "instructor", "video", media / "ins.mp4"], ["s1", "lea", "learner", "video", cut]]
    recordings, ann = _session(tmp_path, media, rows=rows)
    with pytest.raises(InputError, match=r"line 3 .*cut.mp4"):
        _validate("s1", recordings, ann)


def test_video_cut_short_after_its_index_is_found_at_probe_time(tmp_path):
    """moov at the front (faststart): the header opens and promises the full length, the data stops
    early — only decoding the end shows it (it used to fail in audio extraction, much later)."""
    whole = tmp_path / "whole.mp4"
    subprocess.run([ffmpeg_executable(), "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=15:duration=8",
                    "-f", "lavfi", "-i", "sine=duration=8", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    "-shortest", "-movflags", "+faststart", str(whole)], check=True)
    assert probe_media(whole)["video"]["duration_s"] == pytest.approx(8.0, abs=0.1)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.6)])
    with pytest.raises(InputError, match=r"sheet line 2: .*cut.mp4: the (video|audio) stream ends early — its header "
                                         r"says 8.0 s.*cut short.*copy or export it again"):
        probe_media(cut, "sheet line 2")


def test_a_folder_or_an_empty_file_is_named_as_such(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(InputError, match=r"empty.mp4 is empty \(0 bytes\)"):
        probe_media(empty, "x")
    with pytest.raises(InputError, match=r"is a folder, not a file"):
        probe_media(tmp_path, "x")


@pytest.mark.parametrize("edit,message", [
    (lambda lines: lines[:1], r"a header but no samples"),
    (lambda lines: lines[:1] + lines[:0:-1], r"backward tracking_timestamp_us values .*not one recording in time order"),
    (lambda lines: lines[:5] + [lines[5] + ",1,2"] + lines[6:], r"malformed CSV \(.*line 6.*\).*restore it"),
])
def test_broken_gaze_files_stop_at_the_head_probe(tmp_path, media, edit, message):
    lines = (media / "gaze.csv").read_text().splitlines()
    bad = tmp_path / "gaze.csv"
    bad.write_text("\n".join(edit(lines)) + "\n")
    rows = [["s1", "ins", "instructor", "video", media / "ins.mp4"], ["s1", "ins", "instructor", "gaze_csv", bad]]
    recordings, _ = _session(tmp_path, media, rows=rows)
    probe_device(recordings, "r.tsv")  # the media probe does not read the gaze file
    with pytest.raises(InputError, match=r"r.tsv: line 3 \(s1/ins, gaze_csv\): .*" + message):
        probe_head_inputs(recordings, GAZE, "r.tsv")


def test_annotations_longer_than_video(tmp_path, media, repo_root):
    recordings, ann = _session(tmp_path, media, annotations=[
        ["s1", "steps", 0, 20, "background"], ["s1", "states", 0, 20, "silent_work"]])
    with pytest.raises(InputError, match="video is shorter than its annotations"):
        _validate("s1", recordings, ann, repo_root / "resources" / "labels")


def test_vrs_without_projectaria_tools(tmp_path, media, monkeypatch):
    for name in ("projectaria_tools", "projectaria_tools.core"):
        monkeypatch.setitem(sys.modules, name, None)
    vrs = tmp_path / "rec.vrs"
    vrs.write_bytes(b"\0" * 10)
    rows = [["s1", "ins", "instructor", "aria_vrs", vrs]]
    recordings, ann = _session(tmp_path, media, rows=rows)
    with pytest.raises(MissingModelError, match="needs projectaria-tools.*kind video"):
        _validate("s1", recordings, ann)


def test_video_kind_without_video_stream(tmp_path, media):
    wav = tmp_path / "a.wav"
    subprocess.run([ffmpeg_executable(), "-v", "error", "-f", "lavfi", "-i", "sine=duration=1", str(wav)], check=True)
    rows = [["s1", "ins", "instructor", "video", wav]]
    recordings, ann = _session(tmp_path, media, rows=rows)
    with pytest.raises(InputError, match="has no video stream; use kind 'audio'"):
        _validate("s1", recordings, ann)

from pathlib import Path

import pytest

from egoinstruct.errors import InputError
from egoinstruct.sheet import (
    annotated_tasks,
    check_paths_exist,
    expand_media_paths,
    read_annotation_sheet,
    read_recordings,
)

from conftest import write_tsv

HEADER = ["session", "device", "role", "kind", "path"]


def _rows():
    return [
        ["s1", "ins", "instructor", "video", "a.mp4"],
        ["s1", "ins", "instructor", "gaze_csv", "a.csv"],
        ["s1", "lea", "learner", "video", "b.mp4"],
        ["s1", "exo", "exo", "video", "c.mp4"],
    ]


def test_bundled_demo_sheets_are_valid(repo_root):
    table = read_recordings(repo_root / "config" / "recordings.tsv")
    assert table.session.nunique() == 6
    assert set(table.kind) == {"video", "mps", "gaze_csv", "calibration"}
    annotations = read_annotation_sheet(repo_root / "config" / "annotations.tsv", repo_root / "resources" / "labels")
    assert set(annotations.session) == set(table.session)


def test_reads_optional_columns(tmp_path):
    rows = [r + [0.5 if r[1] == "lea" else None, 2] for r in _rows()]
    table = read_recordings(write_tsv(tmp_path / "r.tsv", HEADER + ["offset_s", "fold"], rows))
    assert table.loc[table.device == "lea", "offset_s"].tolist() == [0.5]
    assert table.loc[table.device == "ins", "offset_s"].isna().all()
    assert set(table.fold) == {2}


@pytest.mark.parametrize("change,expected", [
    (lambda rows: rows[2].__setitem__(2, "teacher"), r"line 4, column role = 'teacher'.*allowed: instructor, learner, exo"),
    (lambda rows: rows[0].__setitem__(3, "mp4"), r"line 2, column kind = 'mp4'.*allowed: video, aria_vrs, gaze_csv, calibration, audio"),
    (lambda rows: rows.append(["s1", "ins", "instructor", "gaze_csv", "d.csv"]), r"line 6: duplicate session/device/kind \(s1, ins, gaze_csv\); it is already on line 3"),
    (lambda rows: rows.append(["s1", "lea", "learner", "video", "b.mp4"]), r"line 6: repeats line 4 \(s1, lea, video, b.mp4\); list each input once"),
    (lambda rows: rows.append(["s1", "lea", "learner", "aria_vrs", "b.vrs"]),
     r"lines 4, 6: device lea of session s1 has several media rows of kinds video, aria_vrs; .*chapters of one recording"),
    (lambda rows: rows.append(["s1", "ins", "instructor", "mps", "mps_a_vrs"]),
     r"lines 3, 6: device ins of session s1 has gaze_csv and mps rows; give its eye gaze once"),
    (lambda rows: rows.append(["s1", "lea", "learner", "export_log", "log"]) or rows.append(["s1", "lea", "learner", "video", "b2.mp4"]),
     r"line 6: an export_log .* one exported MP4 \(kind video\); lea has 2 video row\(s\)"),
    (lambda rows: rows[1].__setitem__(0, "s 1"), r"line 3, column session = 's 1'.*letters, digits, '_' and '-' only"),
    (lambda rows: rows.append(["s1", "exo", "exo", "gaze_csv", "e.csv"]), r"line 6: a gaze_csv belongs to a head-worn device"),
    (lambda rows: rows.append(["s1", "exo", "exo", "calibration", "e.json"]), r"line 6: a calibration belongs to a head-worn device"),
    (lambda rows: rows.__setitem__(0, ["s1", "ins", "learner", "video", "a.mp4"]), r"several roles"),
    (lambda rows: rows.pop(0), r"device ins of session s1 has no media row"),
    (lambda rows: [r.__setitem__(2, "learner") for r in rows if r[1] == "ins"],
     r"exactly one device with role instructor .*found none.*another role"),
    (lambda rows: rows[3].__setitem__(2, "instructor"),
     r"session s1 must have exactly one device with role instructor .*found ins \(line 2\), exo \(line 5\)"),
    (lambda rows: rows[3].__setitem__(4, ""), r"line 5, column path.*should be non-empty"),
])
def test_bad_rows_name_line_field_and_fix(tmp_path, change, expected):
    rows = _rows()
    change(rows)
    path = write_tsv(tmp_path / "r.tsv", HEADER, rows)
    with pytest.raises(InputError, match=expected) as info:
        read_recordings(path)
    assert str(path) in str(info.value)


def test_missing_and_unknown_columns(tmp_path):
    path = write_tsv(tmp_path / "r.tsv", ["session", "device", "rol", "kind", "path"], [["s1", "a", "instructor", "video", "x"]])
    with pytest.raises(InputError, match=r"missing column\(s\) role; unknown column\(s\) rol"):
        read_recordings(path)


def test_bad_offset_and_fold(tmp_path):
    rows = [r + ["soon"] for r in _rows()]
    with pytest.raises(InputError, match=r"line 2, column offset_s: 'soon' is not a number"):
        read_recordings(write_tsv(tmp_path / "r.tsv", HEADER + ["offset_s"], rows))
    rows = [r + [i % 2] for i, r in enumerate(_rows())]
    with pytest.raises(InputError, match="same value on every row of a session"):
        read_recordings(write_tsv(tmp_path / "r2.tsv", HEADER + ["fold"], rows))


def test_empty_and_missing_sheet(tmp_path):
    with pytest.raises(InputError, match="has no rows"):
        read_recordings(write_tsv(tmp_path / "r.tsv", HEADER, []))
    with pytest.raises(InputError, match="not found"):
        read_recordings(tmp_path / "nope.tsv")


def test_missing_file_is_reported_with_line(tmp_path):
    (tmp_path / "gen").mkdir()
    rows = [["s1", "ins", "instructor", "video", str(tmp_path / "gen" / "a.mp4")],
            ["s1", "lea", "learner", "video", str(tmp_path / "missing.mp4")]]
    table = read_recordings(write_tsv(tmp_path / "r.tsv", HEADER, rows))
    with pytest.raises(InputError, match=r"line 3, column path: .*missing.mp4 does not exist"):
        check_paths_exist(table, "r.tsv", generated_root=tmp_path / "gen", generated=[tmp_path / "gen" / "a.mp4"])


def test_paths_that_are_folders_empty_or_not_made_by_the_demo(tmp_path):
    (tmp_path / "gen").mkdir()
    folder, empty = tmp_path / "mps", tmp_path / "empty.mp4"
    folder.mkdir()
    empty.touch()
    typo = tmp_path / "gen" / "instructor_ari.mp4"
    for path, message in [(folder, r"line 2, column path: .*mps is a folder, not a file"),
                          (empty, r"line 2, column path: .*empty.mp4 is empty \(0 bytes\)"),
                          (typo, r"line 2, column path: .*instructor_ari.mp4 is under the demo folder .* makes no such "
                                 r"file; fix the path")]:
        table = read_recordings(write_tsv(tmp_path / "r.tsv", HEADER, [["s1", "ins", "instructor", "video", str(path)]]))
        with pytest.raises(InputError, match=message):
            check_paths_exist(table, "r.tsv", generated_root=tmp_path / "gen", generated=[tmp_path / "gen" / "a.mp4"])


def test_folder_kinds_and_chapter_globs(tmp_path):
    """mps and export_log rows are folders; a video row may be a glob of chapters, expanded in
    GoPro chapter order (GH01 < GH02 < GH10), and one that matches nothing is an error."""
    mps = tmp_path / "mps_rec_vrs"
    (mps / "eye_gaze").mkdir(parents=True)
    chapters = [tmp_path / name for name in ("GH101234.MP4", "GH011234.MP4", "GH021234.MP4")]
    for chapter in chapters:
        chapter.write_bytes(b"x")
    rows = [["s1", "ins", "instructor", "video", str(tmp_path / "GH??1234.MP4")],
            ["s1", "ins", "instructor", "mps", str(mps)]]
    table = read_recordings(write_tsv(tmp_path / "r.tsv", HEADER, rows))
    check_paths_exist(table, "r.tsv")
    assert [Path(p).name for p in expand_media_paths([str(tmp_path / "GH??1234.MP4")])] == [
        "GH011234.MP4", "GH021234.MP4", "GH101234.MP4"]
    for kind, path, message in [
        ("video", str(tmp_path / "GX??9999.MP4"), r"line 2, column path: .*GX\?\?9999.MP4 matches no file"),
        ("mps", str(chapters[0]), r"line 2, column path: .*GH101234.MP4 is a file; a mps row gives a folder"),
        ("gaze_csv", str(mps), r"is a folder, not a file; .*for an MPS output folder use kind mps"),
    ]:
        rows = [["s1", "ins", "instructor", kind, path], ["s1", "ins", "instructor", "aria_vrs", str(chapters[1])]]
        if kind == "video":
            rows = rows[:1]
        table = read_recordings(write_tsv(tmp_path / "r.tsv", HEADER, rows))
        with pytest.raises(InputError, match=message):
            check_paths_exist(table, "r.tsv")


def test_annotation_sheet_checks(tmp_path, repo_root):
    labels = repo_root / "resources" / "labels"
    ok = write_tsv(tmp_path / "a.tsv", ["session", "procedure", "path"], [["s1", "block_assembly", "x.tsv"]])
    assert len(read_annotation_sheet(ok, labels)) == 1
    bad = write_tsv(tmp_path / "b.tsv", ["session", "procedure", "path"], [["s1", "juggling", "x.tsv"]])
    with pytest.raises(InputError, match=r"line 2, column procedure = 'juggling': no steps label set .*"
                                         r"steps_juggling\.yaml; add it"):
        read_annotation_sheet(bad, labels)
    ext = write_tsv(tmp_path / "c.tsv", ["session", "procedure", "path"], [["s1", "block_assembly", "x.txt"]])
    with pytest.raises(InputError, match=r"line 2, column path = 'x.txt'"):
        read_annotation_sheet(ext, labels)


def test_annotation_sheet_tasks_column(tmp_path, repo_root):
    labels = repo_root / "resources" / "labels"
    header = ["session", "procedure", "path", "tasks"]
    sheet = write_tsv(tmp_path / "a.tsv", header, [
        ["s1", "block_assembly", "s1.tsv", "steps"], ["s2", "block_assembly", "s2.tsv", ""],
        ["s3", "block_assembly", "s3_steps.tsv", "steps"], ["s3", "block_assembly", "s3_states.eaf", " states "],
        ["s4", "block_assembly", "s4.tsv", "states, steps"]])
    table = read_annotation_sheet(sheet, labels)
    assert table.tasks.tolist() == ["steps", "steps,states", "steps", "states", "steps,states"]
    assert annotated_tasks(table) == {"s1": ("steps",), "s2": ("steps", "states"), "s3": ("steps", "states"),
                                      "s4": ("steps", "states")}
    # without the column every file labels every task
    plain = write_tsv(tmp_path / "b.tsv", header[:3], [["s1", "block_assembly", "s1.tsv"]])
    assert annotated_tasks(read_annotation_sheet(plain, labels)) == {"s1": ("steps", "states")}
    bad = write_tsv(tmp_path / "c.tsv", header, [["s1", "block_assembly", "s1.tsv", "steps,moods"]])
    with pytest.raises(InputError, match=r"c.tsv: line 2, column tasks: unknown task 'moods'; the tasks are steps, "
                                         r"states"):
        read_annotation_sheet(bad, labels)
    # a states-only session's procedure needs no step label set
    states_only = write_tsv(tmp_path / "d.tsv", header, [["s1", "juggling", "s1.tsv", "states"]])
    assert annotated_tasks(read_annotation_sheet(states_only, labels)) == {"s1": ("states",)}

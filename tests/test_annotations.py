import pytest

from egoinstruct.annotations import (
    check_segments,
    read_segments,
    read_session_segments,
    read_validated,
    write_validated,
)
from egoinstruct.errors import InputError
from egoinstruct.importers.elan import read_eaf_tiers
from egoinstruct.settings.validation import GapPolicy

from conftest import shared_fixture, write_tsv

HEADER = ["session", "tier", "t_start", "t_end", "label"]


def _good_rows(session="s1"):
    return [
        [session, "steps", 0.0, 4.0, "background"],
        [session, "steps", 4.0, 10.0, "place_base_plate"],
        [session, "states", 0.0, 6.0, "instructor_explains"],
        [session, "states", 6.0, 10.0, "silent_work"],
    ]


def _check(path, labels_dir, duration=10.0, **kwargs):
    """The warnings of checking ``path`` (s1, block assembly)."""
    return _checked(path, labels_dir, duration, **kwargs)[1]


def _checked(path, labels_dir, duration=10.0, **kwargs):
    segments = read_segments(path, "s1")
    return check_segments(segments, path, labels_dir, "block_assembly", duration, **kwargs)


def _gaps(steps="error", states="error", steps_fill="background", states_fill=None):
    return {"steps": GapPolicy(steps, steps_fill), "states": GapPolicy(states, states_fill)}


@pytest.fixture
def labels_dir(repo_root):
    return repo_root / "resources" / "labels"


def test_tsv_and_csv_read_the_same(tmp_path, labels_dir):
    tsv = write_tsv(tmp_path / "a.tsv", HEADER, _good_rows() + _good_rows("other"))
    csv = tmp_path / "a.csv"
    csv.write_text(tsv.read_text().replace("\t", ","))
    a, b = read_segments(tsv, "s1"), read_segments(csv, "s1")
    assert len(a) == 4 and a.drop(columns=["source", "source_line"]).equals(b.drop(columns=["source", "source_line"]))
    assert _check(tsv, labels_dir) == []


def _eaf(path, steps, states):
    slots, tiers, n = [], {}, 0
    for tier, segs in (("steps", steps), ("states", states)):
        anns = []
        for t0, t1, label in segs:
            slots += [f'<TIME_SLOT TIME_SLOT_ID="ts{n}" TIME_VALUE="{int(t0 * 1000)}"/>',
                      f'<TIME_SLOT TIME_SLOT_ID="ts{n + 1}" TIME_VALUE="{int(t1 * 1000)}"/>']
            anns.append(f'<ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a{n}" TIME_SLOT_REF1="ts{n}" '
                        f'TIME_SLOT_REF2="ts{n + 1}"><ANNOTATION_VALUE>{label}</ANNOTATION_VALUE>'
                        '</ALIGNABLE_ANNOTATION></ANNOTATION>')
            n += 2
        tiers[tier] = anns
    body = "".join(f'<TIER TIER_ID="{t}" LINGUISTIC_TYPE_REF="default-lt">{"".join(a)}</TIER>' for t, a in tiers.items())
    path.write_text('<?xml version="1.0" encoding="UTF-8"?><ANNOTATION_DOCUMENT VERSION="3.0">'
                    f'<HEADER TIME_UNITS="milliseconds"/><TIME_ORDER>{"".join(slots)}</TIME_ORDER>{body}'
                    '<LINGUISTIC_TYPE LINGUISTIC_TYPE_ID="default-lt" TIME_ALIGNABLE="true"/></ANNOTATION_DOCUMENT>')
    return path


def test_eaf_matches_tsv(tmp_path, labels_dir):
    rows = _good_rows()
    eaf = _eaf(tmp_path / "a.eaf",
               [(r[2], r[3], r[4]) for r in rows if r[1] == "steps"],
               [(r[2], r[3], r[4]) for r in rows if r[1] == "states"])
    tsv = write_tsv(tmp_path / "a.tsv", HEADER, rows)
    cols = ["session", "tier", "t_start", "t_end", "label"]
    assert read_segments(eaf, "s1")[cols].equals(read_segments(tsv, "s1")[cols])
    assert _check(eaf, labels_dir) == []
    with pytest.raises(InputError, match="no ELAN tier 'Schritte'.*eaf_tiers.steps.*tasks column"):
        read_segments(eaf, "s1", {"steps": "Schritte", "states": "states"})
    # a session that labels states only is read from its states tier alone
    states = read_segments(eaf, "s1", {"steps": "Schritte", "states": "states"}, tasks=["states"])
    assert set(states.tier) == {"states"} and states.source_line.tolist() == ["a4", "a6"]


def test_real_elan_document_dependent_tiers_and_time_origin(tmp_path):
    """The workflow reads ELAN through pympi-ling: a Time_Subdivision tier whose slots carry no
    times (pympi_sample_3.0.eaf, written by ELAN) gets the importer's times, and TIME_ORIGIN
    moves every annotation onto the media clock."""
    path = shared_fixture("real", "elan", "pympi_sample_3.0.eaf")
    words = read_segments(path, "s1", {"steps": "words-timesub", "states": "gestures"})
    tiers = read_eaf_tiers(path)
    for task, tier in (("steps", "words-timesub"), ("states", "gestures")):
        ours = words[words.tier == task]
        assert list(zip(ours.t_start, ours.t_end, ours.label, strict=True)) == [
            (s, e, v.strip()) for s, e, v in tiers[tier]]
    assert len(words[words.tier == "steps"]) == 1995 and words.source_line.str.startswith("a").all()
    shifted = tmp_path / "shifted.eaf"
    shifted.write_text(path.read_text(encoding="utf-8").replace(
        'MIME_TYPE="audio/x-wav"', 'MIME_TYPE="audio/x-wav" TIME_ORIGIN="1500"', 1), encoding="utf-8")
    moved = read_segments(shifted, "s1", {"steps": "words-timesub", "states": "gestures"})
    assert (moved.t_start - words.t_start).to_numpy() == pytest.approx(1.5)


def test_eaf_time_values_with_a_decimal_point_or_none(tmp_path):
    rows = _good_rows()
    eaf = _eaf(tmp_path / "a.eaf", [(r[2], r[3], r[4]) for r in rows if r[1] == "steps"],
               [(r[2], r[3], r[4]) for r in rows if r[1] == "states"])
    text = eaf.read_text()
    eaf.write_text(text.replace('TIME_VALUE="4000"', 'TIME_VALUE="4000.5"', 1))  # some tools write decimals
    steps = read_segments(eaf, "s1").query("tier == 'steps'")
    assert steps.t_end.tolist()[0] == pytest.approx(4.0005)
    eaf.write_text(text.replace('TIME_VALUE="4000"', 'TIME_VALUE="4 s"', 1))
    with pytest.raises(InputError, match=r"a.eaf: TIME_SLOT ts1: TIME_VALUE '4 s' is not a time; ELAN time values are "
                                         r"milliseconds"):
        read_segments(eaf, "s1")


@pytest.mark.parametrize("rows,expected", [
    ([["s1", "steps", 0, 4, "background"], ["s1", "steps", 4, 10, "juggle"]],
     r"line 3 \(tier steps, 4–10 s\): unknown label 'juggle'; known labels"),
    ([["s1", "steps", 0, 6, "background"], ["s1", "steps", 5, 10, "place_base_plate"]],
     r"line 3 \(tier steps, place_base_plate from 5 s\) overlaps line 2"),
    ([["s1", "steps", 0, 4, "background"], ["s1", "steps", 5, 10, "place_base_plate"]],
     r"gap in tier steps from 4 s to 5 s.*annotation_checks.gaps.steps.policy to ignore or fill"),
    ([["s1", "steps", 4, 4, "background"], ["s1", "steps", 4, 10, "background"]],
     r"line 2 \(tier steps, 4–4 s\): t_end must be after t_start"),
    ([["s1", "steps", 0, 4, "background"], ["s1", "steps", 4, 12, "place_base_plate"]],
     r"line 3 .*ends after the reference recording \(10.000 s.*video is shorter than its annotations"),
    ([["s1", "steps", -1, 4, "background"]], r"line 2: t_start: -1.0 is less than the minimum of 0"),
    ([["s1", "moods", 0, 4, "happy"]], r"line 2: tier: 'moods' is not one of"),
])
def test_bad_segments(tmp_path, labels_dir, rows, expected):
    states = [["s1", "states", 0, 10, "silent_work"]]
    path = write_tsv(tmp_path / "a.tsv", HEADER, rows + states)
    with pytest.raises(InputError, match=expected):
        _check(path, labels_dir)


def test_gap_policies(tmp_path, labels_dir):
    rows = [["s1", "steps", 1, 4, "background"], ["s1", "steps", 5, 8, "place_base_plate"],
            ["s1", "states", 0, 10, "silent_work"]]
    path = write_tsv(tmp_path / "a.tsv", HEADER, rows)
    # ignore: the gap stays unlabelled and is reported
    kept, warnings = _checked(path, labels_dir, gaps=_gaps(steps="ignore"))
    assert len(warnings) == 1 and "gap in tier steps from 4 s to 5 s" in warnings[0] and "ignore" in warnings[0]
    assert len(kept) == 3
    # fill: every unlabelled instant of steps, 0 to the recording's end, becomes background
    filled, warnings = _checked(path, labels_dir, gaps=_gaps(steps="fill"))
    steps = filled[filled.tier == "steps"]
    assert list(zip(steps.t_start, steps.t_end, steps.label, strict=True)) == [
        (0, 1, "background"), (1, 4, "background"), (4, 5, "background"), (5, 8, "place_base_plate"),
        (8, 10, "background")]
    assert set(steps[steps.source_line == "gap"].source) == {"annotation_checks.gaps.steps (fill)"}
    assert len(warnings) == 1 and "3 gap(s) in tier steps (4.000 s) labelled 'background'" in warnings[0]
    # a fill label outside the task's label set is an error naming the setting and the label file
    with pytest.raises(InputError, match=r"gaps.steps.fill_label = 'idle' is not a label of .*steps_block_assembly"):
        _check(path, labels_dir, gaps=_gaps(steps="fill", steps_fill="idle"))
    # states filled with a label of theirs
    rows = [["s1", "steps", 0, 10, "background"], ["s1", "states", 2, 6, "learner_asks"]]
    filled, _ = _checked(write_tsv(tmp_path / "b.tsv", HEADER, rows), labels_dir,
                         gaps=_gaps(states="fill", states_fill="silent_work"))
    states = filled[filled.tier == "states"]
    assert states.label.tolist() == ["silent_work", "learner_asks", "silent_work"]


def test_a_session_may_label_one_task(tmp_path, labels_dir):
    steps_only = write_tsv(tmp_path / "steps.tsv", HEADER, [["s1", "steps", 0, 10, "background"]])
    kept, warnings = _checked(steps_only, labels_dir, tasks=["steps"])
    assert kept.tier.tolist() == ["steps"] and warnings == []
    # a tier the sheet does not name for the session is left out, with a warning
    both = write_tsv(tmp_path / "both.tsv", HEADER, _good_rows())
    kept, warnings = _checked(both, labels_dir, tasks=["states"])
    assert set(kept.tier) == {"states"}
    assert len(warnings) == 1 and "tier steps left out (2 segments)" in warnings[0]
    # a named task without segments is an error that says how to leave it out
    with pytest.raises(InputError, match=r"no segments in tier states; annotate it, or leave states out of the "
                                         r"annotation sheet's tasks column"):
        _check(steps_only, labels_dir, tasks=["steps", "states"])
    with pytest.raises(InputError, match="names no task"):
        _check(steps_only, labels_dir, tasks=[])


def test_small_overhang_is_tolerated(tmp_path, labels_dir):
    rows = [["s1", "steps", 0, 10.3, "background"], ["s1", "states", 0, 10.3, "silent_work"]]
    assert _check(write_tsv(tmp_path / "a.tsv", HEADER, rows), labels_dir) == []


def test_non_numeric_time_and_missing_session(tmp_path, labels_dir):
    path = write_tsv(tmp_path / "a.tsv", HEADER, [["s1", "steps", "0:04", 5, "background"]])
    with pytest.raises(InputError, match=r"line 2, column t_start = '0:04': not a time"):
        read_segments(path, "s1")
    with pytest.raises(InputError, match="no rows for session s2"):
        read_segments(path, "s2")


def test_missing_tier(tmp_path, labels_dir):
    path = write_tsv(tmp_path / "a.tsv", HEADER, [["s1", "steps", 0, 10, "background"]])
    with pytest.raises(InputError, match="no segments in tier states"):
        _check(path, labels_dir)  # every task by default


def test_validated_table_round_trip(tmp_path, labels_dir):
    rows = _good_rows()
    steps = write_tsv(tmp_path / "steps.tsv", HEADER, [r for r in rows if r[1] == "steps"])
    states = write_tsv(tmp_path / "states.tsv", HEADER, [r for r in rows if r[1] == "states"])
    segments = read_session_segments([steps, states], "s1")
    write_validated(segments, tmp_path / "annotations.parquet", {"session": "s1"})
    back = read_validated(tmp_path / "annotations.parquet")
    assert back[["tier", "t_start", "t_end", "label"]].equals(segments[["tier", "t_start", "t_end", "label"]])
    assert set(back.source) == {str(steps), str(states)} and back.source_line.iloc[0] == "2"
    empty = tmp_path / "none.parquet"
    write_validated(read_session_segments([], "s1"), empty, {"session": "s1"})
    assert read_validated(empty).empty


def test_a_sessions_files_are_read_together(tmp_path, labels_dir):
    rows = _good_rows()
    steps = write_tsv(tmp_path / "steps.tsv", HEADER, [r for r in rows if r[1] == "steps"])
    states = write_tsv(tmp_path / "states.tsv", HEADER, [r for r in rows if r[1] == "states"] + _good_rows("s2"))
    both = read_session_segments([steps, states], "s1")
    assert sorted(both.tier.unique()) == ["states", "steps"] and len(both) == 4
    assert check_segments(both, "steps.tsv, states.tsv", labels_dir, "block_assembly", 10.0)[1] == []
    assert read_session_segments([], "s1").empty

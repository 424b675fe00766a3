"""Annotation importers on the real files of the shared fixtures, read as they are."""

from __future__ import annotations

import json
from pathlib import Path

import pympi
import pytest
import yaml

from egoinstruct.annotations import check_segments, read_segments
from egoinstruct.cli import main
from egoinstruct.errors import InputError
from egoinstruct.importers import (
    import_egoexo4d,
    import_elan,
    import_frames,
    import_holoassist,
    read_eaf_tiers,
    read_purpose_mapping,
    slug,
    write_outputs,
)
from egoinstruct.importers.common import ImportReport, Segment, resolve_overlaps
from egoinstruct.labels import load_labels
from egoinstruct.settings.validation import GapPolicy

from conftest import shared_fixture


def _holoassist() -> Path:
    return shared_fixture("real", "holoassist", "R007-7July-DSLR.json")


def _keystep() -> Path:
    return shared_fixture("real", "egoexo4d", "keystep_doc_sample.json")


def _eaf() -> Path:
    return shared_fixture("real", "elan", "pympi_sample_3.0.eaf")


def test_slug_rule():
    assert slug("Covid-19 Rapid Antigen Test") == "covid_19_rapid_antigen_test"
    assert slug("  Read the instructions ") == "read_the_instructions"
    assert slug("Café  crème!") == "cafe_creme"
    assert slug("--") == ""


def test_overlaps_are_trimmed_or_dropped_and_counted():
    report = ImportReport("test", "x")
    kept = resolve_overlaps([Segment("s", "steps", 0, 10, "a"), Segment("s", "steps", 5, 12, "b"),
                             Segment("s", "steps", 6, 9, "c"), Segment("s", "states", 5, 6, "d")], report)
    assert [(s.tier, s.t_start, s.t_end, s.label) for s in kept] == [
        ("states", 5, 6, "d"), ("steps", 0, 10, "a"), ("steps", 10, 12, "b")]
    assert report.mapped["overlap trimmed: start moved to the end of the earlier segment"].count == 1
    assert report.dropped_count("inside an earlier-starting segment of the same tier (overlap)") == 1


def test_holoassist_real_session():
    result = import_holoassist(_holoassist())
    steps = [s for s in result.segments if s.tier == "steps"]
    states = [s for s in result.segments if s.tier == "states"]
    assert result.report.sessions == ["r007_7july_dslr"]
    assert len(steps) == 8 and len(states) == 9
    assert (steps[0].t_start, steps[0].t_end, steps[0].label) == (2.2, 11.1, "disassemble_lens")
    assert (steps[-1].t_start, steps[-1].t_end, steps[-1].label) == (84.1, 111.2, "exchange_sd_card")
    assert (states[0].t_start, states[0].t_end, states[0].label) == (2.3, 3.7, "instructor_explains")
    assert [s.label for s in states].count("confirmation") == 1
    assert steps[1].t_start - steps[0].t_end == pytest.approx(1.2)  # the gap stays a gap
    report = result.report
    assert report.dropped_count("Fine grained action event (not imported)") == 47
    assert report.dropped_count("Narration event (not imported)") == 1
    assert report.dropped_count("conversation purpose mapped to nothing (null)") == 3  # opening, closing, other
    assert not report.dropped_count("conversation purpose not in the mapping")
    specs = {(s.tier, s.procedure): s for s in result.label_sets}
    assert set(specs) == {("steps", "setup_camera"), ("states", None)}
    assert list(specs[("steps", "setup_camera")].labels)[:3] == ["background", "disassemble_lens", "assemble_lens"]
    assert set(specs[("states", None)].labels) <= set(load_labels("resources/labels", "states").labels)


def test_holoassist_unmapped_purposes_are_reported(tmp_path):
    result = import_holoassist(_holoassist(), mapping={})
    assert result.report.dropped_count("conversation purpose not in the mapping") == 12
    assert result.report.segments == {"steps": 8}


def test_egoexo4d_keystep_layout():
    result = import_egoexo4d(_keystep())
    assert [(s.session, s.t_start, s.t_end, s.label) for s in result.segments] == [
        ("georgiatech_covid_07_6", 0.85598, 33.20377, "unbox_package"),
        ("georgiatech_covid_07_6", 33.204, 56.61153, "read_the_instructions")]
    (spec,) = result.label_sets
    assert spec.procedure == "covid_19_rapid_antigen_test"
    assert list(spec.labels) == ["background", "unbox_package", "read_the_instructions"]
    assert spec.labels["unbox_package"] == "Unbox covid19 test package"
    assert spec.labels["read_the_instructions"] == "Read the instruction leaflet on the table"


def test_egoexo4d_session_mapping_and_taxonomy(tmp_path):
    taxonomy = {"taxonomy": {"Covid-19 Rapid Antigen Test": {
        "0": {"id": 0, "is_leafnode": False, "name": "Covid-19 Rapid Antigen Test", "parent_id": None},
        "2": {"id": 2, "is_leafnode": True, "name": "Check the expiration date", "parent_name": "Preparation"},
        "31": {"id": 31, "is_leafnode": True, "name": "Unbox package", "parent_name": "Preparation"}}}}
    (tmp_path / "tax.json").write_text(json.dumps(taxonomy))
    result = import_egoexo4d(_keystep(), {"other_take": "s01"}, tmp_path / "tax.json")
    assert result.segments == []
    assert result.report.dropped["take without a session mapping"].examples == [
        "georgiatech_covid_07_6 (77cd56fc-6b68-4c7f-814b-81545484dd2d)"]
    result = import_egoexo4d(_keystep(), {"georgiatech_covid_07_6": "s01"}, tmp_path / "tax.json")
    (spec,) = result.label_sets
    assert result.report.sessions == ["s01"]
    assert spec.labels["check_the_expiration_date"] == "Check the expiration date (part of: Preparation)."
    assert spec.labels["unbox_package"] == "Unbox covid19 test package"  # the annotation's own description wins


def test_read_eaf_tiers_matches_pympi_for_every_tier():
    path = _eaf()
    ours = read_eaf_tiers(path)
    eaf = pympi.Elan.Eaf(str(path))
    assert set(ours) == set(eaf.get_tier_names())
    assert {t: len(v) for t, v in ours.items()} == {
        "text": 399, "words-timesub": 1995, "words-symsub": 1995, "gestures": 1197, "gest_included": 1197,
        "words-pos": 1995}
    parents = ours["text"]
    for tier in eaf.get_tier_names():
        theirs = [(a[0], a[1], a[2]) for a in eaf.get_annotation_data_for_tier(tier)]
        assert sorted(v for _, _, v in theirs) == sorted(v for _, _, v in ours[tier])
        unresolved = 0
        for start, end, value in theirs:
            if start is None or end is None:
                unresolved += 1
                continue
            assert any(abs(s - start / 1000) < 1e-9 and abs(e - end / 1000) < 1e-9 and v == value
                       for s, e, v in ours[tier]), (tier, start, end, value)
        if tier == "words-timesub":
            assert unresolved == 1965  # pympi leaves these slots without times; we interpolate them
            for s, e, _ in ours[tier]:  # every word inside its sentence, the sentence tiled evenly
                assert any(ps - 1e-9 <= s < e <= pe + 1e-9 for ps, pe, _ in parents)
            assert ours[tier][10:15] == [(8.0, pytest.approx(8.6), "The"), (pytest.approx(8.6), pytest.approx(9.2), "quick"),
                                         (pytest.approx(9.2), pytest.approx(9.8), "brown"),
                                         (pytest.approx(9.8), pytest.approx(10.4), "fox"),
                                         (pytest.approx(10.4), 11.0, "003")]
        else:
            assert unresolved == 0


def test_eaf_time_origin_is_applied(tmp_path):
    text = _eaf().read_text(encoding="utf-8").replace('MIME_TYPE="audio/x-wav"',
                                                       'MIME_TYPE="audio/x-wav" TIME_ORIGIN="1500"', 1)
    shifted = tmp_path / "shifted.eaf"
    shifted.write_text(text, encoding="utf-8")
    assert read_eaf_tiers(shifted)["gestures"][0] == (3.3, 3.9, "prep")
    assert read_eaf_tiers(_eaf())["gestures"][0] == (1.8, 2.4, "prep")


def test_elan_import_of_named_tiers():
    result = import_elan(_eaf(), steps_tier="gestures", states_tier="gest_included", session="s1", procedure="talk")
    assert result.report.segments == {"states": 1197, "steps": 1197}
    first = result.segments[0]
    assert (first.tier, first.t_start, first.t_end, first.label) == ("states", 2.0, 2.4, "hold")
    with pytest.raises(InputError, match=r"pympi_sample_3.0.eaf: no ELAN tier 'nope'.*--steps-tier"):
        import_elan(_eaf(), steps_tier="nope", procedure="talk")
    with pytest.raises(InputError, match="--procedure"):
        import_elan(_eaf(), steps_tier="gestures")


def test_frames_inclusive_and_exclusive(tmp_path):
    table = tmp_path / "take_1.csv"
    table.write_text("start_frame,end_frame,label\n0,29,Pick Up\n30,59,Put down\n90,89,bad\n60,90,\n")
    result = import_frames(table, fps=30, procedure="demo")
    assert [(s.session, s.t_start, s.t_end, s.label) for s in result.segments] == [
        ("take_1", 0.0, 1.0, "pick_up"), ("take_1", 1.0, 2.0, "put_down")]
    assert result.report.dropped_count("zero or negative length") == 1
    assert result.report.dropped_count("row without a label") == 1
    exclusive = import_frames(table, fps=30, procedure="demo", end_inclusive=False)
    assert [(s.t_start, s.t_end) for s in exclusive.segments] == [(0.0, 29 / 30), (1.0, 59 / 30)]
    table.write_text("start_frame,end_frame,label\nzero,29,a\n")
    with pytest.raises(InputError, match=r"take_1.csv: line 2: start_frame='zero'.*whole numbers"):
        import_frames(table, fps=30, procedure="demo")
    with pytest.raises(InputError, match=r"take_1.csv: missing column\(s\) begin.*--start-column"):
        import_frames(table, fps=30, procedure="demo", start_column="begin")


def test_bad_inputs_name_file_field_and_fix(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"events": "x"}))
    with pytest.raises(InputError, match=r"bad.json: no 'events' list"):
        import_holoassist(bad)
    with pytest.raises(InputError, match=r"bad.json: no 'annotations' mapping"):
        import_egoexo4d(bad)
    bad.write_text("{not json")
    with pytest.raises(InputError, match=r"bad.json: not valid JSON"):
        import_egoexo4d(bad)
    mapping = tmp_path / "map.yaml"
    mapping.write_text("purposes:\n  x: Instructor Explains\n")
    with pytest.raises(InputError, match=r"map.yaml: purposes.x: 'Instructor Explains' is not a label.*"
                                         r"'instructor_explains'"):
        read_purpose_mapping(mapping)


def test_cli_holoassist_end_to_end(tmp_path, capsys):
    out, labels, report = tmp_path / "ann" / "r007.csv", tmp_path / "labels", tmp_path / "report.json"
    code = main(["import", "holoassist", str(_holoassist()), "--out", str(out), "--labels-dir", str(labels),
                 "--session", "R007", "--report-json", str(report)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "segments states: 9, steps: 8" in printed and "Fine grained action event (not imported): 47" in printed
    assert out.read_text().splitlines()[0] == "session,tier,t_start,t_end,label"
    table = read_segments(out, "R007")
    assert len(table) == 17 and set(table.tier) == {"steps", "states"}
    assert load_labels(labels, "steps", "setup_camera").labels[:2] == ("background", "disassemble_lens")
    assert "instructor_explains" in load_labels(labels, "states")
    assert json.loads(report.read_text())["dropped"]["Narration event (not imported)"]["count"] == 1
    assert yaml.safe_load((labels / "states.yaml").read_text())["tier"] == "states"
    assert (labels / "states.yaml").read_text().startswith("# Imported from the HoloAssist annotation")
    # a second run refuses to overwrite
    assert main(["import", "holoassist", str(_holoassist()), "--out", str(out), "--labels-dir", str(labels)]) == 2
    assert "--force" in capsys.readouterr().err


@pytest.mark.parametrize("steps_gaps,states_gaps", [("fill", "ignore"), ("ignore", "ignore"), ("error", "ignore")])
def test_real_holoassist_import_validates_with_each_gap_policy(tmp_path, steps_gaps, states_gaps):
    """The real HoloAssist session, imported, goes through the workflow's annotation checks:
    its gaps between steps are filled with background, ignored, or stop validation."""
    labels, out = tmp_path / "labels", tmp_path / "holoassist.csv"
    assert main(["import", "holoassist", str(_holoassist()), "--out", str(out), "--labels-dir", str(labels),
                 "--session", "R007"]) == 0
    gaps = {"steps": GapPolicy(steps_gaps, "background"), "states": GapPolicy(states_gaps, None)}
    segments = read_segments(out, "R007")
    if steps_gaps == "error":
        with pytest.raises(InputError, match=r"gap in tier steps from 11.1 s to 12.3 s"):
            check_segments(segments, out, labels, "setup_camera", 120.0, gaps=gaps)
        return
    checked, warnings = check_segments(segments, out, labels, "setup_camera", 120.0, gaps=gaps)
    steps = checked[checked.tier == "steps"]
    states = checked[checked.tier == "states"]
    assert len(states) == 9  # conversation gaps stay gaps
    if steps_gaps == "fill":  # 0–2.2 s, the gaps between the 8 steps and 111.2–120 s are background
        assert steps.t_start.iloc[0] == 0 and steps.t_end.iloc[-1] == 120.0
        assert (steps.t_start.to_numpy()[1:] == steps.t_end.to_numpy()[:-1]).all()
        assert len(steps[steps.label != "background"]) == 8
        assert any("labelled 'background'" in w for w in warnings)
    else:
        assert len(steps) == 8 and any("gap in tier steps" in w and "ignore" in w for w in warnings)


def test_cli_other_formats_end_to_end(tmp_path):
    labels = tmp_path / "labels"
    assert main(["import", "egoexo4d", str(_keystep()), "--out", str(tmp_path / "k.csv"),
                 "--labels-dir", str(labels)]) == 0
    assert len(read_segments(tmp_path / "k.csv", "georgiatech_covid_07_6")) == 2
    assert load_labels(labels, "steps", "covid_19_rapid_antigen_test").labels == (
        "background", "unbox_package", "read_the_instructions")
    assert main(["import", "elan", str(_eaf()), "--out", str(tmp_path / "e.csv"), "--labels-dir", str(labels),
                 "--states-tier", "words-timesub", "--session", "s1"]) == 0
    words = read_segments(tmp_path / "e.csv", "s1")
    assert len(words) == 1995 and words.t_end.max() == pytest.approx(read_eaf_tiers(_eaf())["text"][-1][1])
    (tmp_path / "f.tsv").write_text("begin\tend\taction\ttake\n1\t30\tcut\tt1\n31\t60\tstir\tt1\n")
    assert main(["import", "frames", str(tmp_path / "f.tsv"), "--out", str(tmp_path / "f.csv"), "--labels-dir",
                 str(labels), "--fps", "30", "--procedure", "cook", "--start-column", "begin", "--end-column",
                 "end", "--label-column", "action", "--session-column", "take", "--first-frame", "1"]) == 0
    cooked = read_segments(tmp_path / "f.csv", "t1")
    assert cooked[["t_start", "t_end"]].values.tolist() == [[0.0, 1.0], [1.0, 2.0]]


def test_nothing_left_is_an_error(tmp_path):
    result = import_egoexo4d(_keystep(), {"x": "s"})
    with pytest.raises(InputError, match="nothing to import"):
        write_outputs(result, tmp_path / "a.csv", tmp_path)

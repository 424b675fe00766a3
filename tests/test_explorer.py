"""Session explorer pages: the data written beside each page (no browser; see test_explorer_browser)."""

import json
import re

import numpy as np
from explorer_session import FACE_BOX, STREAM_T0, TRUTH_STEPS, gaze_u, make_session

from egoinstruct.report.explorer import build_session_page, fixation_spans, run_segments, sync_track


def read_data(path):
    """(name, value) of one data file: a single egoExplorerData(name, value) call."""
    text = path.read_text()
    match = re.fullmatch(r'egoExplorerData\("([^"]+)",(.*)\);\n', text, flags=re.S)
    assert match, text[:200]
    return match.group(1), json.loads(match.group(2).replace("<\\/", "</"))


def test_runs_of_labels_on_a_grid():
    t = np.arange(6) * 0.5
    assert run_segments(t, ["a", "a", "b", None, "b", "b"]) == [[0.0, 1.0, "a"], [1.0, 1.5, "b"], [2.0, 3.0, "b"]]
    assert run_segments(t, ["a"] * 6, end=4.0) == [[0.0, 4.0, "a"]]
    assert run_segments(np.array([]), []) == []


def test_fixations_are_spans_with_mean_positions():
    t = np.arange(6, dtype=float)
    u = np.array([1, 3, 10, 10, np.nan, 5], dtype=float)
    v = np.array([2, 4, 0, 2, 0, 5], dtype=float)
    ids = np.array([0, 0, 1, 1, 1, -1])
    # the row outside the image (NaN) does not move fixation 1; id -1 is no fixation
    assert fixation_spans(t, u, v, ids) == [[0.0, 1.0, 2.0, 3.0], [2.0, 3.0, 10.0, 1.0]]


def test_sync_checks_are_placed_on_the_session_clock():
    track = sync_track("d", {"method": "gcc_phat", "offset_s": 2.0, "drift_ppm": 0.0, "confidence_psr": 12.0,
                             "low_confidence": True,
                             "agreement": {"windows": [{"device_time_s": 10.0, "agrees": False, "confidence_psr": 5}]}})
    assert track["segments"][0][:3] == [11.0, 13.0, "disagrees"] and track["summary"] == "PSR 12 (low)"


def test_page_and_its_data(tmp_path):
    layers, frames, metrics = make_session(tmp_path / "s")
    html = tmp_path / "report" / "sessions" / "t01.html"
    built = build_session_page(layers, html, frames, metrics)
    page = html.read_text()
    # self-contained code, data beside the page, no address outside the disk
    assert 'data-folder="t01"' in page and "egoExplorerData" in page
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", page)
    data = dict(read_data(p) for p in (html.parent / "t01").glob("*.js"))
    assert sorted(data) == sorted(built["files"])
    meta = data["meta"]
    device = meta["devices"][0]
    assert device["video"] == "../../s/analysis/learner_aria.mp4" and device["t0"] == STREAM_T0
    assert (device["width"], device["source_width"]) == (320, 640)
    tracks = {t["id"]: t for t in data["tracks"]}
    assert tracks["truth:steps"]["segments"] == [[a, b, label] for a, b, label in TRUTH_STEPS]
    assert tracks["pred:steps:late"]["segments"][0][:3] == [0.0, 6.0, "pick_block"]
    assert tracks["pred:steps:late"]["folds"] == [0]
    mllm = tracks["mllm:steps:tiny:0"]["segments"][0]
    assert mllm[3]["raw_response"] == "answer 0: pick_block" and mllm[3]["inputs_used"] == "transcript,images"
    assert {"speech:instructor", "speech:learner", "gaze:learner_aria", "sync:learner_aria"} <= set(tracks)
    gaze = data[device["gaze"]]
    i = 90  # t = 3.0 s; t in ms, u in tenths of a pixel
    assert gaze["t_ms"][i] == 3000 and gaze["u_tenths"][i] == round(10 * float(gaze_u(np.array(3.0))))
    assert [f[:2] for f in gaze["fixations"]] == [[0.0, 4.467], [4.5, 8.967]]
    assert data[device["faces"]]["box"][0] == FACE_BOX
    assert [u["text"] for u in data["transcript"]][1] == "this one" and len(data["transcript"][2]["words"]) == 5
    assert {m["method"] for m in meta["metrics"]} == {"good", "late"}


def test_page_without_gaze_transcript_or_predictions(tmp_path):
    layers, frames, metrics = make_session(tmp_path / "s", gaze=False, transcript=False, predictions=False)
    html = tmp_path / "t01.html"
    built = build_session_page(layers, html, frames, metrics)
    assert built["files"] == ["meta", "tracks"]
    _, meta = read_data(tmp_path / "t01" / "meta.js")
    assert meta["has_transcript"] is False and meta["metrics"] == [] and "gaze" not in meta["devices"][0]


def test_text_cannot_close_the_script(tmp_path):
    layers, frames, metrics = make_session(tmp_path / "s", gaze=False)
    frames["steps"].loc[0, "label"] = "</script><b>"
    html = tmp_path / "t01.html"
    build_session_page(layers, html, frames, metrics)
    text = (tmp_path / "t01" / "tracks.js").read_text()
    assert "</script>" not in text and read_data(tmp_path / "t01" / "tracks.js")[1]

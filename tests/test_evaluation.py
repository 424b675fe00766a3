"""Evaluation on synthetic predictions: the common grid, folds, hand-checked numbers, outputs, errors."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from egoinstruct.annotations import read_session_segments
from egoinstruct.config import read_config_file
from egoinstruct.errors import InputError
from egoinstruct.evaluation import (
    MAJORITY_METHOD,
    NO_PREDICTION,
    OUTPUTS,
    MethodSpec,
    evaluate_task,
    grid_times,
    load_truth,
    methods_from_registry,
    read_predictions,
    sample_and_hold,
    session_truth,
    write_outputs,
)
from egoinstruct.metrics import segmentation_metrics
from egoinstruct.paths import LABELS_DIR, REPO_ROOT
from egoinstruct.settings.evaluation import EvaluationSettings
from egoinstruct.settings.workflow import defaults_for, load_settings
from egoinstruct.tables import PREDICTIONS_SCHEMA

IE, SW = "instructor_explains", "silent_work"
BG = "background"


def write_predictions(path: Path, times, labels, fold: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {"t": pa.array(times, pa.float64()), "label": pa.array(labels, pa.string()),
         "fold": pa.array([fold] * len(times), pa.int64())},
        schema=PREDICTIONS_SCHEMA,
    )
    pq.write_table(table, path)
    return path


def write_annotations(path: Path, rows: list[tuple[str, str, float, float, str]]) -> Path:
    frame = pd.DataFrame(rows, columns=["session", "tier", "t_start", "t_end", "label"])
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, sep="\t", index=False)
    return path


def at_5hz(labels: list[str]) -> tuple[np.ndarray, list[str]]:
    return np.arange(len(labels)) / 5.0, labels


def eval_settings(resamples: int | None = None, **changes) -> EvaluationSettings:
    """The default ``evaluation`` section with ``changes`` (and fewer bootstrap resamples)."""
    base = defaults_for(EvaluationSettings)
    if resamples is not None:
        changes["bootstrap"] = dataclasses.replace(base.bootstrap, resamples=resamples)
    return dataclasses.replace(base, **changes)


def output_paths(folder: Path) -> dict[str, Path]:
    """A path for every evaluation output (the workflow's evaluate rule names them)."""
    suffix = {"frames": ".parquet", "summary": ".json"}
    return {name: folder / f"{name}{suffix.get(name, '.csv')}" for name in OUTPUTS}


def test_grid_ends_at_the_last_annotated_time():
    assert grid_times(1.0, 5).tolist() == pytest.approx([0, 0.2, 0.4, 0.6, 0.8])
    assert len(grid_times(1.01, 5)) == 6
    assert len(grid_times(0.0, 5)) == 0


def test_sample_and_hold_takes_the_latest_prediction_at_or_before():
    grid = grid_times(1.4, 5)  # 0 … 1.2
    held = sample_and_hold(np.array([0.0, 0.5, 1.0]), ["a", "b", "c"], grid)
    assert held == ["a", "a", "a", "b", "b", "c", "c"]
    # nothing before the first row: no_prediction (an error for every metric)
    assert sample_and_hold(np.array([0.3]), ["a"], grid)[:3] == [NO_PREDICTION, NO_PREDICTION, "a"]
    # 5 Hz grid times meet 2 Hz prediction times despite floating point (0.6000000000000001 vs 0.6)
    assert sample_and_hold(np.array([0.0, 0.6]), ["a", "b"], np.array([3 * 0.2])) == ["b"]


def test_truth_skips_annotation_gaps():
    segments = pd.DataFrame({"tier": ["states", "states"], "t_start": [0.0, 1.4], "t_end": [1.0, 2.0],
                             "label": [IE, SW]})
    truth = session_truth(segments, "s1", None, "states", 5)
    assert truth.grid_frames == 10
    assert truth.times.tolist() == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.4, 1.6, 1.8])
    assert truth.labels == [IE] * 5 + [SW] * 3


@pytest.fixture
def states_setup(tmp_path):
    """Four 2-s sessions: instructor_explains then silent_work (10 frames at 5 Hz each).

    - ``cv`` (baseline, 5 Hz): folds 0 = {s1, s2}, 1 = {s3, s4}; perfect except s2, all IE.
    - ``zs`` (zero-shot, 2 Hz): IE, IE, SW, unparseable at t = 0, 0.5, 1, 1.5 in every session.
    """
    sessions = ["s1", "s2", "s3", "s4"]
    annotations = write_annotations(
        tmp_path / "annotations.tsv",
        [row for s in sessions for row in [(s, "states", 0.0, 1.0, IE), (s, "states", 1.0, 2.0, SW)]],
    )
    truth = load_truth("states", {s: (None, read_session_segments([annotations], s)) for s in sessions}, 5.0)
    folds = {"s1": 0, "s2": 0, "s3": 1, "s4": 1}
    cv, zs = {}, {}
    for s in sessions:
        labels = [IE] * 10 if s == "s2" else [IE] * 5 + [SW] * 5
        cv[s] = write_predictions(tmp_path / "cv" / f"{s}.parquet", *at_5hz(labels), folds[s])
        zs[s] = write_predictions(tmp_path / "zs" / f"{s}.parquet", [0.0, 0.5, 1.0, 1.5],
                                  [IE, IE, SW, "unparseable"], -1)
    methods = [MethodSpec("cv", "baseline", ("visual", "text"), cv),
               MethodSpec("zs", "zero-shot", ("text",), zs)]
    settings = eval_settings(window_s=1.0, hop_s=1.0, resamples=200)
    return truth, methods, settings


def test_states_by_hand(states_setup):
    truth, methods, settings = states_setup
    evaluation = evaluate_task("states", methods, truth, LABELS_DIR, settings)
    cv, zs = evaluation.methods["cv"], evaluation.methods["zs"]
    # folds: 0 -> 15/20 correct, 1 -> 20/20
    assert cv.folds == [0, 1]
    assert cv.per_fold[0]["accuracy"] == pytest.approx(75.0) and cv.per_fold[1]["accuracy"] == 100.0
    assert cv.headline["accuracy"] == pytest.approx((87.5, math.sqrt(2 * 12.5**2)))
    assert cv.pooled["accuracy"] == pytest.approx(87.5)
    # fold 0 macro-F1: IE P = 10/15, R = 1 -> 0.8; SW P = 1, R = 0.5 -> 2/3
    assert cv.per_fold[0]["macro_f1"] == pytest.approx(100 * (0.8 + 2 / 3) / 2)
    # windows of 1 s (5 frames): s2's second window is IE instead of SW -> 7/8 windows right
    assert cv.pooled["window_accuracy"] == pytest.approx(100 * 7 / 8)
    # zero-shot at 2 Hz on the 5 Hz grid: IE×5, SW×3, unparseable×2 -> 8/10 per session
    assert zs.folds == [] and zs.note == "zero-shot, no folds"
    assert zs.pooled["accuracy"] == pytest.approx(80.0)
    assert zs.headline["accuracy"][0] == pytest.approx(80.0) and math.isnan(zs.headline["accuracy"][1])
    assert sum(s.unparseable_frames for s in zs.sessions) == 8
    # majority-class reference added (no reference registered): IE and SW tie, the first seen wins
    majority = evaluation.methods[MAJORITY_METHOD]
    assert majority.spec.kind == "reference" and majority.pooled["accuracy"] == pytest.approx(50.0)
    # unparseable is a column of the confusion matrix, never a class of the per-class table
    assert "unparseable" in evaluation.labels
    # CIs bracket the pooled value
    low, high = cv.ci["accuracy"]
    assert low <= cv.pooled["accuracy"] <= high
    # auto pairs: each method vs the reference, best baseline vs best zero-shot
    pairs = {(r["method_a"], r["method_b"]) for r in evaluation.pairs}
    assert pairs == {("cv", MAJORITY_METHOD), ("zs", MAJORITY_METHOD), ("cv", "zs")}
    diff = next(r for r in evaluation.pairs if (r["method_a"], r["method_b"], r["metric"]) == ("cv", "zs", "accuracy"))
    assert diff["difference"] == pytest.approx(7.5) and 0 <= diff["p_value"] <= 1


def test_outputs_are_written_and_strict_json(states_setup, tmp_path):
    truth, methods, settings = states_setup
    evaluation = evaluate_task("states", methods, truth, LABELS_DIR, settings)
    paths = output_paths(tmp_path / "metrics" / "states")
    write_outputs(evaluation, paths)
    assert all(p.is_file() for p in paths.values())
    with pytest.raises(ValueError, match="no path for evaluation output.*summary"):
        write_outputs(evaluation, {k: v for k, v in paths.items() if k != "summary"})

    def reject(value):
        raise AssertionError(f"non-standard JSON constant {value}")

    meta = json.loads(paths["summary"].read_text(), parse_constant=reject)
    assert meta["methods"]["zs"]["note"] == "zero-shot, no folds" and meta["methods"]["zs"]["folds"] == []
    main = pd.read_csv(paths["main"]).set_index("method")
    assert main.loc["cv", "accuracy_mean"] == pytest.approx(87.5) and main.loc["cv", "folds"] == 2
    assert math.isnan(main.loc["zs", "accuracy_std"]) and main.loc["zs", "unparseable_frames"] == 8
    frames = pq.read_table(paths["frames"]).to_pandas()
    assert len(frames) == 3 * 4 * 10  # three methods (with majority-class), four sessions, ten frames
    per_fold = pd.read_csv(paths["per_fold"])
    assert per_fold[per_fold.method == "cv"].fold.tolist() == [0, 1]
    confusion = pd.read_csv(paths["confusion"])
    cell = confusion[(confusion.method == "zs") & (confusion.truth == SW) & (confusion.predicted == "unparseable")]
    assert int(cell["count"].iloc[0]) == 8
    per_class = pd.read_csv(paths["per_class"])
    assert set(per_class[per_class.method == "cv"].label) == {IE, SW}


def test_steps_match_the_metric_functions_and_use_the_procedure_labels(tmp_path):
    # block_assembly: background, place_base_plate, attach_red_blocks, ...
    rows = [("s1", "steps", 0.0, 0.4, BG), ("s1", "steps", 0.4, 1.2, "place_base_plate"),
            ("s1", "steps", 1.2, 2.0, "attach_red_blocks"),
            ("s2", "steps", 0.0, 1.0, "place_base_plate"), ("s2", "steps", 1.0, 2.0, BG)]
    annotations = write_annotations(tmp_path / "a.tsv", rows)
    truth = load_truth("steps", {s: ("block_assembly", read_session_segments([annotations], s)) for s in ("s1", "s2")}, 5.0)
    assert truth["s1"].labels[:3] == [BG, BG, "place_base_plate"]
    predicted = {
        "s1": [BG] * 3 + ["place_base_plate"] * 3 + ["attach_red_blocks"] * 4,  # boundaries shifted by one frame
        "s2": ["place_base_plate"] * 10,
    }
    files = {s: write_predictions(tmp_path / "m" / f"{s}.parquet", *at_5hz(p), fold=i) for i, (s, p) in
             enumerate(predicted.items())}
    evaluation = evaluate_task("steps", [MethodSpec("m", "baseline", ("visual",), files)], truth, LABELS_DIR,
                               eval_settings(resamples=50))
    result = evaluation.methods["m"]
    expected = segmentation_metrics([predicted["s1"], predicted["s2"]], [truth["s1"].labels, truth["s2"].labels])
    for name, value in expected.items():
        assert result.pooled[name] == pytest.approx(value)
    assert result.pooled["accuracy"] == pytest.approx(100 * 14 / 20)  # 9/10 and 5/10
    # per fold (one session each): fold 1 = s2, Edit 100 (same segment sequence), F1@50: IoU 5/10 -> TP
    assert result.per_fold[1]["edit"] == 100.0 and result.per_fold[1]["f1@50"] == 100.0
    assert evaluation.groups == {"block_assembly": list(evaluation.groups["block_assembly"])}
    assert evaluation.labels[0] == BG
    # the majority reference of steps is per procedure: place_base_plate (9 of 20 frames; background 7) everywhere;
    # Edit: s1 [ppb] vs [ppb, arb] = 50, s2 100 -> 75
    majority = evaluation.methods[MAJORITY_METHOD].pooled
    assert majority["accuracy"] == pytest.approx(45.0) and majority["edit"] == pytest.approx(75.0)


def test_end_convention_reaches_the_f1(tmp_path):
    rows = [("s1", "steps", 0.0, 1.2, "place_base_plate"), ("s1", "steps", 1.2, 1.4, "attach_red_blocks")]
    annotations = write_annotations(tmp_path / "a.tsv", rows)
    truth = load_truth("steps", {"s1": ("block_assembly", read_session_segments([annotations], "s1"))}, 5.0)
    pred = write_predictions(tmp_path / "p.parquet", *at_5hz(["place_base_plate"] * 5 + ["attach_red_blocks"] * 2), 0)
    spec = [MethodSpec("m", "baseline", (), {"s1": pred})]
    mstcn = evaluate_task("steps", spec, truth, LABELS_DIR, eval_settings(resamples=10, end_convention="mstcn"))
    asformer = evaluate_task("steps", spec, truth, LABELS_DIR, eval_settings(resamples=10, end_convention="asformer"))
    # the last segment: mstcn [6,7) vs [5,7) -> IoU 1/2 -> TP; asformer [6,6) vs [5,6) -> FP
    assert mstcn.methods["m"].pooled["f1@50"] == 100.0
    assert asformer.methods["m"].pooled["f1@50"] == 50.0


def test_no_methods_and_unannotated_sessions(tmp_path):
    annotations = write_annotations(tmp_path / "a.tsv", [("s1", "states", 0.0, 1.0, IE)])
    truth = load_truth("states", {"s1": (None, read_session_segments([annotations], "s1"))}, 5.0)
    empty = evaluate_task("states", [], truth, LABELS_DIR, eval_settings(resamples=10))
    assert empty.methods == {} and empty.pairs == []
    paths = output_paths(tmp_path / "out")
    write_outputs(empty, paths)
    assert pd.read_csv(paths["main"]).empty
    assert pq.read_table(paths["frames"]).num_rows == 0
    # a session without annotation is listed as not scored
    files = {"s1": write_predictions(tmp_path / "p1.parquet", [0.0], [IE], -1),
             "s9": write_predictions(tmp_path / "p9.parquet", [0.0], [IE], -1)}
    evaluation = evaluate_task("states", [MethodSpec("zs", "zero-shot", (), files)], truth, LABELS_DIR,
                               eval_settings(resamples=10))
    assert evaluation.methods["zs"].unscored_sessions == ["s9"]
    assert any("s9" in n and "not scored" in n for n in evaluation.notes)
    assert any("pair zs vs majority-class not tested" in n for n in evaluation.notes)  # one session only


def test_bad_prediction_files_are_named_with_the_fix(tmp_path):
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"t": [0.0], "label": ["x"]}), bad)
    with pytest.raises(InputError, match=r"bad\.parquet: missing column\(s\) fold; prediction files need"):
        read_predictions(bad)
    wrong = tmp_path / "wrong.parquet"
    pq.write_table(pa.table({"t": ["0"], "label": ["x"], "fold": [0]}), wrong)
    with pytest.raises(InputError, match=r"wrong\.parquet: wrong column type\(s\): t is string"):
        read_predictions(wrong)
    with pytest.raises(InputError, match="prediction file not found"):
        read_predictions(tmp_path / "absent.parquet")


def test_fold_errors(tmp_path):
    annotations = write_annotations(tmp_path / "a.tsv", [(s, "states", 0.0, 1.0, IE) for s in ("s1", "s2")])
    truth = load_truth("states", {s: (None, read_session_segments([annotations], s)) for s in ("s1", "s2")}, 5.0)
    two = tmp_path / "two.parquet"
    pq.write_table(pa.table({"t": [0.0, 0.5], "label": [IE, IE], "fold": pa.array([0, 1], pa.int64())}), two)
    with pytest.raises(InputError, match="several folds"):
        evaluate_task("states", [MethodSpec("m", "baseline", (), {"s1": two})], truth, LABELS_DIR,
                      eval_settings(resamples=10))
    mixed = {"s1": write_predictions(tmp_path / "m1.parquet", [0.0], [IE], -1),
             "s2": write_predictions(tmp_path / "m2.parquet", [0.0], [IE], 0)}
    with pytest.raises(InputError, match="either zero-shot or cross-validated"):
        evaluate_task("states", [MethodSpec("m", "baseline", (), mixed)], truth, LABELS_DIR,
                      eval_settings(resamples=10))


def test_settings_from_config_and_configured_pairs(states_setup):
    section = defaults_for(EvaluationSettings).to_mapping()
    section.update({"rate_hz": 10, "end_convention": "asformer", "bootstrap": {"resamples": 20, "confidence": 0.9, "seed": 3},
                    "pairs": [["cv", "zs"], ["cv", "absent"]]})
    settings = EvaluationSettings.from_mapping(section, "evaluation")
    assert settings.rate_hz == 10 and settings.end_convention == "asformer"
    assert settings.bootstrap.resamples == 20 and settings.bootstrap.seed == 3
    assert settings.pairs == (("cv", "zs"), ("cv", "absent"))
    assert settings.primary_metric == {"steps": "f1@50", "states": "macro_f1"}
    assert EvaluationSettings.from_mapping(settings.to_mapping()) == settings
    # a primary metric that is not a metric of its task stops the config load
    config = read_config_file(REPO_ROOT / "config" / "config.yaml")
    config["evaluation"]["primary_metric"]["states"] = "edit"
    with pytest.raises(InputError, match=r"primary_metric\.states: 'edit' is not a metric of that task"):
        load_settings(config, "x.yaml")
    truth, methods, _ = states_setup
    evaluation = evaluate_task("states", methods, truth, LABELS_DIR,
                               eval_settings(resamples=20, pairs=settings.pairs, majority_reference=False))
    assert {(r["method_a"], r["method_b"]) for r in evaluation.pairs} == {("cv", "zs")}
    assert MAJORITY_METHOD not in evaluation.methods
    assert any("absent not evaluated" in n for n in evaluation.notes)


def test_methods_from_the_registry_and_the_flat_file_list():
    registry = {"cv": {"kind": "baseline", "inputs": ["visual", "text"], "sessions": ["s1", "s2"]},
                "zs": {"kind": "zero-shot", "inputs": ["text"], "sessions": ["s2"]},
                "none": {"kind": "reference", "sessions": []}}
    files = ["p/cv/s1.parquet", "p/cv/s2.parquet", "p/zs/s2.parquet"]  # method by method, each in session order
    specs = methods_from_registry("states", registry, files)
    assert [(m.name, m.kind, m.inputs) for m in specs] == [
        ("cv", "baseline", ("visual", "text")), ("zs", "zero-shot", ("text",)), ("none", "reference", ())]
    assert specs[0].predictions == {"s1": files[0], "s2": files[1]} and specs[1].predictions == {"s2": files[2]}
    assert specs[2].predictions == {}
    with pytest.raises(InputError, match="states: 2 prediction files for 3 registered"):
        methods_from_registry("states", registry, files[:2])

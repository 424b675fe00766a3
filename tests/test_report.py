"""The report renders for any subset of methods, opens offline, and comes out of the real workflow."""

from __future__ import annotations

import dataclasses
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from egoinstruct.annotations import read_session_segments
from egoinstruct.errors import InputError
from egoinstruct.evaluation import OUTPUTS, MethodSpec, evaluate_task, load_truth, write_outputs
from egoinstruct.labels import load_labels
from egoinstruct.mllm.scoring import score_run
from egoinstruct.paths import LABELS_DIR
from egoinstruct.report import ReportInputs, ReportOutputs, build_report
from egoinstruct.report.provenance import short_commit
from egoinstruct.settings.evaluation import EvaluationSettings
from egoinstruct.settings.workflow import defaults_for

from workflow_utils import make_workdir, snakemake

SESSIONS = ["s1", "s2", "s3", "s4"]
PROCEDURES = {"s1": "block_assembly", "s2": "paper_folding", "s3": "block_assembly", "s4": "paper_folding"}
FOLDS = {"s1": 0, "s2": 0, "s3": 1, "s4": 1}
DURATION_S = 12.0
# File names of the evaluation's outputs (as the workflow's evaluate rule names them).
EVAL_FILES = {"main": "main.csv", "per_fold": "per_fold.csv", "per_session": "per_session.csv",
              "per_class": "per_class.csv", "confusion": "confusion.csv", "paired_tests": "paired_tests.csv",
              "frames": "frames.parquet", "summary": "metrics.json"}
assert set(EVAL_FILES) == set(OUTPUTS)


def labels_of(task: str, session: str) -> list[str]:
    return list(load_labels(LABELS_DIR, task, PROCEDURES[session] if task == "steps" else None).labels)


def write_annotations(root: Path) -> Path:
    rows = []
    for s in SESSIONS:
        for task in ("steps", "states"):
            labels = labels_of(task, s)
            for k in range(4):
                rows.append((s, task, 3.0 * k, 3.0 * (k + 1), labels[k % len(labels)]))
    path = root / "annotations.tsv"
    pd.DataFrame(rows, columns=["session", "tier", "t_start", "t_end", "label"]).to_csv(path, sep="\t", index=False)
    return path


def write_method(root: Path, task: str, name: str, kind: str, rate_hz: float, seed: int) -> tuple[dict, list[Path]]:
    """Predictions of one synthetic method (noisy copies of the annotation pattern): its registry entry
    (kind, inputs, sessions, as the workflow registers methods) and its files in session order."""
    rng = np.random.default_rng(seed)
    sessions = [s for s in SESSIONS]
    paths = []
    for s in sessions:
        labels = labels_of(task, s)
        t = np.arange(int(DURATION_S * rate_hz)) / rate_hz
        truth = [labels[int(x // 3.0) % len(labels)] for x in t]
        noisy = [lab if rng.random() < 0.7 else labels[int(rng.integers(len(labels)))] for lab in truth]
        if kind == "zero-shot":
            noisy = [lab if rng.random() < 0.9 else "unparseable" for lab in noisy]
        fold = -1 if kind != "baseline" else FOLDS[s]
        path = root / "predictions" / task / name / f"{s}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"t": t, "label": noisy, "fold": pa.array([fold] * len(t), pa.int64())}), path)
        paths.append(path)
    inputs = {"zero-shot": ["text", "image"], "baseline": ["visual", "gaze", "prosody"], "reference": []}[kind]
    return {"sessions": sessions, "kind": kind, "inputs": inputs}, paths


def write_mllm_summary(root: Path, task: str, model: str, predictions: list[Path], annotations: Path,
                       settings: EvaluationSettings) -> Path:
    """The run's summary.json (rule mllm_summary): its run.json and its score on the evaluation grid."""
    windows = 3 * len(SESSIONS)
    run = {"task": task, "model": model, "backend": "llama_cpp", "identity": {"model": "tiny.gguf"},
           "prompt_version": "completion-v1", "decoding": "grammar", "inputs_shown": ["transcript"],
           "inputs_dropped": ["image"], "transcript_only": True, "sessions": {s: {} for s in SESSIONS},
           "windows": windows, "outcomes": {"text": 8, "unparseable": 4}, "unparseable_rate": 1 / 3, "wall_s": 5.0,
           "windows_per_s": windows / 5.0,
           "calls": {"requests": windows, "new_calls": 4, "cache_hits": 8, "retries": 0, "prompt_tokens": 400,
                     "completion_tokens": 12, "latency_s_mean": 1.0, "latency_s_p50": 1.0, "latency_s_p95": 1.5},
           "answers": {"prompt_tokens": windows * 100, "completion_tokens": windows * 3, "latency_s_mean": 1.5}}
    score = score_run(task, f"mllm-{model}", dict(zip(SESSIONS, predictions, strict=True)),
                      {s: (PROCEDURES[s], read_session_segments([annotations], s)) for s in SESSIONS}, settings,
                      LABELS_DIR)
    path = root / "mllm" / task / model / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"run": run, "score": score}))
    return path


def write_session_data(root: Path) -> dict[str, dict[str, Path]]:
    files: dict[str, dict[str, Path]] = {"probes": {}, "syncs": {}, "speech": {}}
    for s in SESSIONS:
        base = root / "sessions" / s
        base.mkdir(parents=True, exist_ok=True)
        tiers = {task: {"n_segments": 4, "span_s": [0, DURATION_S],
                        "seconds_per_label": {lab: 3.0 for lab in labels_of(task, s)[:4]}}
                 for task in ("steps", "states")}
        probe = {"session": s, "session_duration_s": DURATION_S, "devices": {"a": {}, "b": {}},
                 "annotations": {"procedure": PROCEDURES[s], "tiers": tiers}, "warnings": []}
        sync = {"min_confidence_psr": 40.0, "devices": {
            "a": {"role": "instructor", "method": "reference", "offset_s": 0.0, "drift_ppm": 0.0,
                  "confidence_psr": None, "low_confidence": False},
            "b": {"role": "learner", "method": "gcc_phat", "offset_s": 0.4, "drift_ppm": 0.0,
                  "confidence_psr": 40.0, "low_confidence": False}}}
        speech = {"n_words": 20, "alignment": {"method": "whisper"}, "diarization": {"method": "offline",
                  "n_speakers": 2}, "rtf": 0.1, "warnings": []}
        for key, name, content in (("probes", "probe.json", probe), ("syncs", "sync.json", sync),
                                   ("speech", "transcript.json", speech)):
            (base / name).write_text(json.dumps(content))
            files[key][s] = base / name
    return files


def write_overview(root: Path) -> Path:
    """results/data/inputs_overview.tsv (rule inputs_overview): one row per session and device."""
    rows = [{"session": s, "device": d, "role": role, "reference": d == "a", "duration_s": DURATION_S,
             "video": "320x240@15", "audio": "48000 Hz x1", "gaze_layout": "", "gaze_rate_hz": None,
             "procedure": PROCEDURES[s], "n_step_segments": 4, "n_state_segments": 4, "warnings": 0}
            for s in SESSIONS for d, role in (("a", "instructor"), ("b", "learner"))]
    path = root / "data" / "inputs_overview.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    return path


def write_demo_quality(root: Path) -> Path:
    """results/data/demo_quality.json (rule demo_quality): the demo sessions against the generator's truth."""
    quality = {
        "sessions": SESSIONS,
        "sync": [{"session": s, "device": "b", "method": "gcc_phat", "true_offset_s": 0.4, "error_ms": 1.5,
                  "residual_lag_ms": 0.2} for s in SESSIONS],
        "sync_summary": {"estimated_devices": len(SESSIONS), "worst_abs_error_ms": 1.5, "frame_period_ms": 66.7,
                         "worst_abs_residual_lag_ms": 0.2},
        "speech": [{"session": s, "ref_words": 20, "hyp_words": 19, "wer": 0.1, "der": 0.05, "der_collar": 0.02,
                    "role_accuracy": 0.95, "transcript_role_accuracy": 0.9, "n_speakers": 2, "alignment": "whisper",
                    "diarization": "offline", "rtf": 0.1} for s in SESSIONS],
        "speech_summary": {"sessions": len(SESSIONS), "wer": 0.1, "der": 0.05, "der_collar": 0.02,
                           "role_accuracy": 0.95},
        "gaze": [],
    }
    path = root / "data" / "demo_quality.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(quality))
    return path


def write_training(root: Path, task: str, method: str, fold: int, epochs: bool) -> Path:
    """A fold's training.json: sequence models record their epoch history (the report draws it)."""
    record: dict = {"task": task, "method": method, "model": method, "fold": fold}
    if epochs:
        record["history"] = [{"epoch": e, "train_loss": 2.0 / e, "train_accuracy": 0.2 * e, "val_loss": None,
                              "val_accuracy": None} for e in range(1, 4)]
    path = root / "models" / task / method / f"fold{fold}" / "training.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path


def eval_settings(**changes) -> EvaluationSettings:
    base = defaults_for(EvaluationSettings)
    return dataclasses.replace(base, bootstrap=dataclasses.replace(base.bootstrap, resamples=100), **changes)


# (task -> [(method, kind, rate)]), majority_reference, demo sessions (synthetic data)
SUBSETS = {
    "zero_baselines": ({"steps": [("mllm-tiny", "zero-shot", 2.0)], "states": [("mllm-tiny", "zero-shot", 2.0)]},
                       True, False),
    "only_mllm": ({"steps": [("mllm-tiny", "zero-shot", 2.0)], "states": [("mllm-tiny", "zero-shot", 2.0)]},
                  False, False),
    "only_baselines": ({"steps": [("asformer", "baseline", 5.0), ("majority", "reference", 5.0)],
                        "states": [("gbdt", "baseline", 5.0), ("majority", "reference", 5.0)]}, True, False),
    "task_without_methods": ({"steps": [("asformer", "baseline", 5.0), ("mllm-tiny", "zero-shot", 2.0)],
                              "states": []}, True, False),
    "nothing": ({"steps": [], "states": []}, True, False),
    "everything_on_demo_data": ({"steps": [("asformer", "baseline", 5.0), ("mllm-tiny", "zero-shot", 2.0)],
                                 "states": [("gbdt", "baseline", 5.0), ("mllm-tiny", "zero-shot", 2.0)]},
                                True, True),
}


def make_inputs(root: Path, subset: str) -> tuple[ReportInputs, dict]:
    """Every input of the report for a subset of methods (the report rule's inputs), and the registry."""
    methods, majority, demo = SUBSETS[subset]
    annotations = write_annotations(root)
    registry: dict[str, dict] = {}
    mllm: list[Path] = []
    training: dict[tuple[str, str, int], Path] = {}
    settings = eval_settings(majority_reference=majority)
    metrics: dict[str, dict[str, Path]] = {}
    for task in ("steps", "states"):
        registry[task] = {}
        files: dict[str, list[Path]] = {}
        for seed, (name, kind, rate) in enumerate(methods[task]):
            registry[task][name], files[name] = write_method(root, task, name, kind, rate, seed)
            if name.startswith("mllm-"):
                mllm.append(write_mllm_summary(root, task, name[5:], files[name], annotations, settings))
            if kind == "baseline":
                for fold in sorted(set(FOLDS.values())):
                    training[(task, name, fold)] = write_training(root, task, name, fold, epochs=name != "gbdt")
        truth = load_truth(task, {s: (PROCEDURES[s], read_session_segments([annotations], s)) for s in SESSIONS},
                           settings.rate_hz)
        specs = [MethodSpec(n, e["kind"], tuple(e["inputs"]), dict(zip(e["sessions"], files[n], strict=True)))
                 for n, e in registry[task].items()]
        metrics[task] = {name: root / "metrics" / task / file for name, file in EVAL_FILES.items()}
        write_outputs(evaluate_task(task, specs, truth, LABELS_DIR, settings), metrics[task])
    data = write_session_data(root)
    folds = {}
    for task in dict.fromkeys(task for task, _, _ in training):
        folds[task] = root / "models" / task / "folds.json"
        folds[task].parent.mkdir(parents=True, exist_ok=True)
        folds[task].write_text(json.dumps({"task": task, "k": 2, "seed": 0, "folds": {
            "0": {"test": ["s1", "s2"], "train": ["s3", "s4"]}, "1": {"test": ["s3", "s4"], "train": ["s1", "s2"]}},
            "session_fold": {"s1": 0, "s2": 0, "s3": 1, "s4": 1}}))
    inputs = ReportInputs(
        tasks=["steps", "states"], metrics=metrics, sessions=SESSIONS, procedures=PROCEDURES,
        probes=data["probes"], syncs=data["syncs"], speech=data["speech"], overview=write_overview(root),
        mllm=mllm, demo_quality=write_demo_quality(root) if demo else None, demo_sessions=SESSIONS if demo else (),
        folds=folds, training=training, title="egoinstruct — evaluation report", config_hash="0" * 64,
    )
    return inputs, registry


def build(root: Path, subset: str) -> tuple[ReportOutputs, dict]:
    inputs, registry = make_inputs(root, subset)
    outputs = ReportOutputs.in_folder(root / "report")
    summary = build_report(inputs, registry, outputs)
    return outputs, summary


class References(HTMLParser):
    """Every tag and every src/href-like attribute of a document."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.refs: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "srcset", "poster", "data", "action") and value is not None:
                self.refs.append((name, value))


def assert_self_contained(html_path: Path, allow_urls_in_text: bool = False) -> References:
    text = html_path.read_text()
    parser = References()
    parser.feed(text)
    assert not parser.tags & {"script", "link", "iframe", "object", "embed"}, parser.tags
    for name, value in parser.refs:
        assert not value.lower().startswith(("http:", "https:", "//", "ftp:", "file:")), (name, value)
        if name == "src":
            assert value.startswith("data:image/"), value
        if name == "href" and not value.startswith("#"):
            assert (html_path.parent / value).is_file(), f"{value} is not a file beside the report"
    assert "url(" not in text and "@import" not in text
    if not allow_urls_in_text:
        assert "http://" not in text and "https://" not in text
    return parser


@pytest.mark.parametrize("subset", list(SUBSETS))
def test_report_renders_for_any_subset_of_methods(tmp_path, subset):
    outputs, summary = build(tmp_path, subset)
    html = outputs.html.read_text()
    assert_self_contained(outputs.html)
    markdown = outputs.summary.read_text()
    assert markdown.startswith("# egoinstruct")
    assert (outputs.tables / "main_table.csv").exists() and (outputs.tables / "provenance.csv").exists()
    methods, majority, demo = SUBSETS[subset]
    for task, listed in methods.items():
        for name, _, _ in listed:
            assert name in html and name in summary["methods"][task]
        if listed and majority and not any(kind == "reference" for _, kind, _ in listed):
            assert "majority-class" in summary["methods"][task]
        if not listed:
            assert summary["methods"][task] == []
            assert "No method was evaluated for this task." in html
    if not demo:
        assert "Synthetic data" not in html and "Synthetic data" not in markdown
    sync = pd.read_csv(outputs.tables / "sync.csv")
    assert len(sync) == 2 * len(SESSIONS)
    if subset in ("zero_baselines", "everything_on_demo_data"):
        usage = pd.read_csv(outputs.tables / "mllm_usage.csv")
        assert usage.method.tolist() == ["mllm-tiny", "mllm-tiny"] and usage.task.tolist() == ["steps", "states"]
        assert usage.cache_hits.tolist() == [8, 8]
        assert usage.unparseable_window_rate.tolist() == pytest.approx([1 / 3] * 2)
        assert usage.answer_prompt_tokens.tolist() == [len(SESSIONS) * 3 * 100] * 2  # every window, cached or not
        # the run's score is the evaluation's pooled figure of the same method: one run, one number
        for task, row in zip(usage.task, usage.itertuples(), strict=True):
            main = pd.read_csv(tmp_path / "metrics" / task / "main.csv").set_index("method")
            assert row.accuracy == pytest.approx(main.loc["mllm-tiny", "accuracy_pooled"])
            assert row.macro_f1 == pytest.approx(main.loc["mllm-tiny", "macro_f1_pooled"])
    if subset == "zero_baselines":
        assert "zero-shot, no folds" in html
        assert len(list(outputs.timelines.glob("*.svg"))) == 2 * len(SESSIONS)
        assert "<svg" in html and "ground truth" in html
    if subset == "only_mllm":
        assert "majority-class" not in html
    if subset == "only_baselines":
        assert "± " in html  # mean ± std over two folds
        assert "No zero-shot MLLM method was registered." in html
        assert html.count("data:image/png;base64,") == 2  # asformer's curves of both folds; gbdt has no epochs
        main = pd.read_csv(outputs.tables / "main_table.csv").set_index("method")
        assert main.loc["asformer", "steps_note"] == "mean ± std over 2 folds"
        assert (outputs.tables / "folds.csv").exists()
    if subset == "task_without_methods":
        assert "states: no method is registered for this task" in html
        paired = pd.read_csv(outputs.tables / "paired_tests.csv")
        assert {"asformer", "mllm-tiny"} <= set(paired.method_a) | set(paired.method_b)
    if subset == "nothing":
        assert "No method was evaluated: no predictions are registered for any task." in html
        assert "No timelines" in html
    if subset == "everything_on_demo_data":
        estimated = sync[sync.method == "gcc_phat"]  # the demo truth's error of every estimated offset
        assert estimated.true_offset_s.tolist() == [0.4] * len(SESSIONS)
        assert estimated.error_ms.tolist() == [1.5] * len(SESSIONS)
        assert (outputs.tables / "speech_quality.csv").exists() and "WER" in html


def test_demo_sessions_are_labelled_synthetic(tmp_path):
    outputs, summary = build(tmp_path, "everything_on_demo_data")
    html, markdown = outputs.html.read_text(), outputs.summary.read_text()
    expected = "Synthetic data: 4 of 4 sessions are the generated demo sessions"
    assert expected in html and expected in markdown
    assert any(n.startswith("Synthetic data") for n in summary["notes"])


def test_a_missing_input_is_an_error_naming_it_never_an_emptier_report(tmp_path):
    inputs, registry = make_inputs(tmp_path, "everything_on_demo_data")
    paths = inputs.paths()
    # every kind of declared input is there: evaluation outputs, session files, overview, MLLM summaries,
    # demo truth, folds and training records
    assert {p.name for p in paths} >= {*EVAL_FILES.values(), "probe.json", "sync.json", "transcript.json",
                                       "inputs_overview.tsv", "summary.json", "demo_quality.json", "folds.json",
                                       "training.json"}
    assert len(paths) == len(set(paths))
    outputs = ReportOutputs.in_folder(tmp_path / "report")
    for path in paths:
        moved = path.with_name(path.name + ".moved")
        path.rename(moved)
        try:
            with pytest.raises(InputError) as error:
                build_report(inputs, registry, outputs)
            assert str(path) in str(error.value)
        finally:
            moved.rename(path)
        assert not outputs.html.exists() and not outputs.summary.exists()
    # a session without its files in the inputs is named too
    partial = dataclasses.replace(inputs, syncs={s: p for s, p in inputs.syncs.items() if s != "s3"})
    with pytest.raises(InputError, match="session s3: sync.json"):
        build_report(partial, registry, outputs)
    # with every input back, the report is written
    build_report(inputs, registry, outputs)
    assert outputs.html.is_file() and outputs.summary.is_file()


def test_provenance_and_commit():
    assert short_commit("a" * 40) == "a" * 12
    assert short_commit("b" * 40 + " + uncommitted changes") == "b" * 12 + " + uncommitted changes"
    assert short_commit("unknown") == "unknown"


def scratch_config(workdir: Path, sessions: int) -> None:
    """Only MLLM methods in the scratch run (fast), whatever other stages the checkout includes."""
    path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    if "folds" in config:
        config["folds"]["k"] = min(config["folds"]["k"], sessions)
    for task in ("steps", "states"):
        for method in ((config.get("baselines") or {}).get("methods") or {}).get(task, {}).values():
            method["enabled"] = False
    config["evaluation"]["bootstrap"]["resamples"] = 200
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def test_the_default_target_ends_with_the_report(tmp_path):
    workdir = make_workdir(tmp_path / "wd", ["s01", "s02"])
    scratch_config(workdir, 2)
    dry = snakemake(workdir, "-n")
    assert "report" in dry.stdout and "evaluate" in dry.stdout


@pytest.mark.slow
def test_workflow_writes_the_report(tmp_path):
    workdir = make_workdir(tmp_path / "wd", ["s01", "s02"], duration_s=20)
    scratch_config(workdir, 2)
    snakemake(workdir, "--cores", "2", "results/report/index.html")
    report = workdir / "results" / "report"
    assert_self_contained(report / "index.html", allow_urls_in_text=True)
    html = (report / "index.html").read_text()
    assert "mllm-gemma3-270m" in html and "majority-class" in html and "zero-shot, no folds" in html
    assert "WER" in html  # demo truth: ASR quality against the scripted dialogue
    main = pd.read_csv(workdir / "results" / "metrics" / "states" / "main.csv").set_index("method")
    assert 0 <= main.loc["mllm-gemma3-270m", "accuracy_mean"] <= 100
    assert sorted(p.name for p in (report / "timelines").glob("*.svg")) == [
        "s01_states.svg", "s01_steps.svg", "s02_states.svg", "s02_steps.svg"]
    usage = pd.read_csv(report / "tables" / "mllm_usage.csv")
    assert set(usage.task) == {"steps", "states"} and (usage.windows > 0).all()
    assert "# egoinstruct" in (report / "summary.md").read_text()
    # an unchanged rerun of the stage does nothing (Snakemake's --report needs every stage's outputs: it is
    # checked by the whole-pipeline test in test_workflow.py)
    assert "Nothing to be done" in snakemake(workdir, "-n", "results/report/index.html").stdout


def test_timeline_runs_gaps_and_decimation():
    from egoinstruct.report.svg import decimate, nice_step, runs

    times = np.array([0.0, 0.2, 0.4, 1.0, 1.2])  # a gap between 0.4 and 1.0 (unscored frames)
    assert [(r.label, r.start, r.end) for r in runs(times, ["a", "a", "b", "b", "b"], 0.2)] == [
        ("a", 0.0, pytest.approx(0.4)), ("b", 0.4, pytest.approx(0.6)), ("b", 1.0, pytest.approx(1.4))]
    long = np.arange(10_000) / 5.0
    labels = ["a" if (i // 7) % 2 else "b" for i in range(10_000)]
    t, lab, step = decimate(long, labels, 0.2, 2000.0, 500)
    assert len(t) == len(lab) == 500 and step == pytest.approx(4.0)
    assert len(runs(t, lab, step)) <= 500
    assert decimate(times, ["a"] * 5, 0.2, 1.4, 500)[1] == ["a"] * 5  # short rows are kept as they are
    assert nice_step(30) == 5 and nice_step(1800) == 200

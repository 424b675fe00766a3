"""The report renders for any subset of methods, opens offline, and comes out of the real workflow."""

from __future__ import annotations

import io
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from egoinstruct.evaluation import (
    EvaluationSettings,
    MethodSpec,
    evaluate_task,
    load_truth,
    write_outputs,
)
from egoinstruct.labels import load_labels
from egoinstruct.paths import LABELS_DIR
from egoinstruct.report import ReportInputs, ReportOutputs, build_report
from egoinstruct.report.provenance import short_commit
from egoinstruct.tables import MLLM_WINDOWS_SCHEMA

from workflow_utils import make_workdir, snakemake

SESSIONS = ["s1", "s2", "s3", "s4"]
PROCEDURES = {"s1": "block_assembly", "s2": "paper_folding", "s3": "block_assembly", "s4": "paper_folding"}
FOLDS = {"s1": 0, "s2": 0, "s3": 1, "s4": 1}
DURATION_S = 12.0


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


def write_method(root: Path, task: str, name: str, kind: str, rate_hz: float, seed: int) -> dict:
    """Predictions of one synthetic method: noisy copies of the annotation pattern."""
    rng = np.random.default_rng(seed)
    sessions = [s for s in SESSIONS]
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
    inputs = {"zero-shot": ["text", "image"], "baseline": ["visual", "gaze", "prosody"], "reference": []}[kind]
    return {"sessions": sessions, "kind": kind, "inputs": inputs,
            "paths": [str(root / "predictions" / task / name / f"{s}.parquet") for s in sessions]}


def write_mllm_run(root: Path, task: str, model: str) -> tuple[Path, list[Path]]:
    folder = root / "mllm" / task / model
    windows = []
    for s in SESSIONS:
        n = 3
        columns = {field.name: [None] * n for field in MLLM_WINDOWS_SCHEMA}
        columns.update(session=[s] * n, task=[task] * n, model=[model] * n, window_index=list(range(n)),
                       t_start=[0.0, 4.0, 8.0], t_end=[8.0, 12.0, 12.0], inputs_used=["transcript"] * n,
                       n_frames=[0] * n, n_utterances=[1] * n, audio_s=[0.0] * n, raw_response=["x"] * n,
                       outcome=["text", "text", "unparseable"], parse_detail=[""] * n, cache_hit=[False, True, True],
                       latency_s=[1.0, 2.0, 3.0], attempts=[1, 0, 0], prompt_tokens=[100] * n,
                       completion_tokens=[3] * n, request_key=["k"] * n, label=["a", "a", None])
        path = folder / "windows" / f"{s}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(columns, schema=MLLM_WINDOWS_SCHEMA), path)
        windows.append(path)
    run = {"task": task, "model": model, "backend": "llama_cpp", "identity": {"model": "tiny.gguf"},
           "prompt_version": "completion-v1", "decoding": "grammar", "inputs_shown": ["transcript"],
           "inputs_dropped": ["image"], "windows": 12, "outcomes": {"text": 8, "unparseable": 4},
           "unparseable_rate": 1 / 3, "wall_s": 5.0,
           "calls": {"requests": 12, "new_calls": 4, "cache_hits": 8, "retries": 0, "prompt_tokens": 400,
                     "completion_tokens": 12, "latency_s_mean": 1.0, "latency_s_p50": 1.0, "latency_s_p95": 1.5}}
    (folder / "run.json").write_text(json.dumps(run))
    return folder / "run.json", windows


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


def png_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


# (task -> [(method, kind, rate)]), majority_reference, data files present
SUBSETS = {
    "zero_baselines": ({"steps": [("mllm-tiny", "zero-shot", 2.0)], "states": [("mllm-tiny", "zero-shot", 2.0)]},
                       True, True),
    "only_mllm": ({"steps": [("mllm-tiny", "zero-shot", 2.0)], "states": [("mllm-tiny", "zero-shot", 2.0)]},
                  False, True),
    "only_baselines": ({"steps": [("asformer", "baseline", 5.0), ("majority", "reference", 5.0)],
                        "states": [("gbdt", "baseline", 5.0), ("majority", "reference", 5.0)]}, True, True),
    "task_without_methods": ({"steps": [("asformer", "baseline", 5.0), ("mllm-tiny", "zero-shot", 2.0)],
                              "states": []}, True, True),
    "nothing": ({"steps": [], "states": []}, True, False),
}


def build(root: Path, subset: str) -> tuple[ReportOutputs, dict]:
    methods, majority, with_data = SUBSETS[subset]
    annotations = write_annotations(root)
    registry: dict[str, dict] = {}
    runs, windows = {}, {}
    settings = EvaluationSettings(resamples=100, majority_reference=majority)
    for task in ("steps", "states"):
        registry[task] = {}
        for seed, (name, kind, rate) in enumerate(methods[task]):
            registry[task][name] = write_method(root, task, name, kind, rate, seed)
            if name.startswith("mllm-"):
                runs[(task, name)], windows[(task, name)] = write_mllm_run(root, task, name[5:])
        truth = load_truth(task, {s: (PROCEDURES[s], annotations) for s in SESSIONS}, settings.rate_hz)
        specs = [MethodSpec(n, e["kind"], tuple(e["inputs"]), dict(zip(e["sessions"], e["paths"], strict=True)))
                 for n, e in registry[task].items()]
        write_outputs(evaluate_task(task, specs, truth, LABELS_DIR, settings), root / "metrics" / task)
    data = write_session_data(root) if with_data else {"probes": {}, "syncs": {}, "speech": {}}
    models = root / "models"
    if any(e["kind"] == "baseline" for task in registry.values() for e in task.values()):
        (models / "steps" / "asformer" / "fold0").mkdir(parents=True)
        (models / "steps" / "asformer" / "fold0" / "training_curves.png").write_bytes(png_bytes())
        (models / "folds.json").write_text(json.dumps({"k": 2, "seed": 0, "folds": {
            "0": {"test": ["s1", "s2"], "train": ["s3", "s4"]}, "1": {"test": ["s3", "s4"], "train": ["s1", "s2"]}}}))
    inputs = ReportInputs(
        tasks=["steps", "states"], metrics_dirs={t: root / "metrics" / t for t in ("steps", "states")},
        sessions=SESSIONS, procedures=PROCEDURES, probes=data["probes"], syncs=data["syncs"], speech=data["speech"],
        mllm_runs=runs, mllm_windows=windows, results_dir=root, models_dir=models, config_hash="0" * 64,
    )
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
    methods, majority, _ = SUBSETS[subset]
    for task, listed in methods.items():
        for name, _, _ in listed:
            assert name in html and name in summary["methods"][task]
        if listed and majority and not any(kind == "reference" for _, kind, _ in listed):
            assert "majority-class" in summary["methods"][task]
        if not listed:
            assert summary["methods"][task] == []
            assert "No method was evaluated for this task." in html
    if subset == "zero_baselines":
        assert "zero-shot, no folds" in html
        usage = pd.read_csv(outputs.tables / "mllm_usage.csv")
        assert usage.cache_hits.tolist() == [8, 8] and usage.unparseable_rate.tolist() == pytest.approx([1 / 3] * 2)
        assert usage.answer_prompt_tokens.tolist() == [len(SESSIONS) * 3 * 100] * 2  # every window, cached or not
        assert len(list(outputs.timelines.glob("*.svg"))) == 2 * len(SESSIONS)
        assert "<svg" in html and "ground truth" in html
        sync = pd.read_csv(outputs.tables / "sync.csv")
        assert len(sync) == 2 * len(SESSIONS)
    if subset == "only_mllm":
        assert "majority-class" not in html
    if subset == "only_baselines":
        assert "± " in html  # mean ± std over two folds
        assert "No zero-shot MLLM method was registered." in html
        assert "data:image/png;base64," in html  # the training curve, embedded
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
        for method in (config.get("baselines") or {}).get(task, {}).values():
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

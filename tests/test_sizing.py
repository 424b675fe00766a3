"""Cluster requests: memory and time follow the recording, more on a retry, GPUs only where used."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from egoinstruct.settings.dataset import BaselineMethod, BaselineSettings
from egoinstruct.sizing import JOB_SIZES, JobSize, MediaFacts, media_facts, probe_facts

from workflow_utils import make_workdir, snakemake

GEN1 = MediaFacts(720.0, 1408, 1408, 20.0)  # 12 minutes of Aria Gen 1 video


def test_requests_grow_with_length_pixels_and_attempt():
    size = JobSize(mem_mb=1000, runtime_min=5, mem_mb_per_hour=600, mem_mb_per_megapixel=100,
                   runtime_min_per_hour=30, runtime_min_per_gigapixel=0.5)
    one_hour = size.request(MediaFacts(3600.0, 1000, 1000, 10.0))
    assert one_hour == {"mem_mb": 1000 + 600 + 100, "runtime": 5 + 30 + 18}  # 36 gigapixels × 0.5 min
    assert size.request(MediaFacts(3600.0, 1000, 1000, 10.0), attempt=2) == {"mem_mb": 3400, "runtime": 106}
    assert size.request(MediaFacts(7200.0, 1000, 1000, 10.0))["runtime"] > one_hour["runtime"]


def test_video_stages_stream_so_their_memory_is_flat_in_length():
    for rule in ("frames", "faces", "head_motion", "visual_features"):
        short = JOB_SIZES[rule].request(MediaFacts(60.0, 1408, 1408, 20.0))
        long = JOB_SIZES[rule].request(MediaFacts(7200.0, 1408, 1408, 20.0))
        assert short["mem_mb"] == long["mem_mb"] and long["runtime"] > short["runtime"], rule
        # a bigger frame asks for more memory (decode buffers)
        assert JOB_SIZES[rule].request(MediaFacts(60.0, 3840, 2160, 30.0))["mem_mb"] > short["mem_mb"]
    # whole-recording stages hold the recording: memory grows with it
    for rule in ("sync_device", "transcribe", "assemble"):
        assert JOB_SIZES[rule].request(MediaFacts(7200.0))["mem_mb"] > JOB_SIZES[rule].request(MediaFacts(60.0))["mem_mb"]


def test_requests_at_real_sizes_are_sane():
    """12 minutes of Aria Gen 1: every request fits a common node (≤ 16 GB, ≤ 4 h)."""
    for rule, size in JOB_SIZES.items():
        request = size.request(GEN1)
        assert 500 <= request["mem_mb"] <= 16000 and 3 <= request["runtime"] <= 240, (rule, request)


def test_facts_from_the_probe_then_demo_then_file_size(tmp_path):
    probe = {"duration_s": 62.5, "inputs": {"video": {"path": "x.mp4", "video": {"width": 1920, "height": 1080,
                                                                                   "fps": 29.97}}}}
    path = tmp_path / "probe.json"
    path.write_text(json.dumps(probe))
    assert probe_facts(probe) == MediaFacts(62.5, 1920, 1080, 29.97)
    assert media_facts(path) == MediaFacts(62.5, 1920, 1080, 29.97)
    demo = {"duration_s": 60, "width": 320, "height": 240, "fps": 15}
    assert media_facts(tmp_path / "none.json", [], demo) == MediaFacts(60.0, 320, 240, 15.0, source="demo")
    media = tmp_path / "GX010001.MP4"
    media.write_bytes(b"\0" * 1_500_000)
    guessed = media_facts(tmp_path / "none.json", [media])
    assert guessed.source == "file size" and guessed.duration_s == pytest.approx(2.0)
    # an audio-only probe has no frames: nothing decoded
    assert probe_facts({"duration_s": 10, "inputs": {"audio": {"audio": {}}}}).gigapixels == 0


def _method(model: str) -> BaselineMethod:
    return BaselineMethod(name=model, model=model, modalities="all", settings={}, enabled=True)


def test_gpus_only_for_the_torch_models():
    method = _method
    auto = BaselineSettings(device="auto", seed=0, threads=2, methods={})
    assert [auto.gpus(method(m), training=True) for m in ("asformer", "mstcn++", "bigru", "gbdt", "majority")] == [
        1, 1, 1, 0, 0]
    assert auto.gpus(method("asformer"), training=False) == 0  # prediction is quick: a GPU only with cuda
    cuda = BaselineSettings(device="cuda", seed=0, threads=2, methods={})
    assert cuda.gpus(method("bigru"), training=False) == 1 and cuda.gpus(method("gbdt"), training=True) == 0
    cpu = BaselineSettings(device="cpu", seed=0, threads=2, methods={})
    assert cpu.gpus(method("asformer"), training=True) == 0


def _requests(dry_run: str) -> dict[str, list[dict[str, str]]]:
    """Rule -> the resources line of each of its jobs in a dry run."""
    out: dict[str, list[dict[str, str]]] = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", dry_run):
        rule = re.match(r"(?:local)?rule (\w+):", block.strip())
        line = re.search(r"^\s+resources: (.*)$", block, re.M)
        if rule and line:
            out.setdefault(rule.group(1), []).append(dict(p.split("=", 1) for p in line.group(1).split(", ")))
    return out


def test_slurm_dry_run_requests_follow_the_recording_length(tmp_path):
    requests = {}
    for seconds in (12, 1800):
        workdir = make_workdir(tmp_path / str(seconds), ["s01"], duration_s=seconds)
        run = snakemake(workdir, "-n", "--workflow-profile", "profiles/slurm", "--executor", "slurm",
                        "results/sessions/s01/visual/exo_gopro.parquet", "results/sessions/s01/transcript.parquet")
        requests[seconds] = _requests(run.stdout + run.stderr)
    short, long = requests[12], requests[1800]
    for rule in ("transcribe", "sync_device", "visual_features", "session_audio"):
        assert int(long[rule][0]["runtime"]) > int(short[rule][0]["runtime"]), rule
    assert int(long["transcribe"][0]["mem_mb"]) > int(short["transcribe"][0]["mem_mb"])
    assert long["visual_features"][0]["mem_mb"] == short["visual_features"][0]["mem_mb"]  # streams frames
    assert short["probe_device"][0]["runtime"] == long["probe_device"][0]["runtime"]  # a fixed request
    assert short["transcribe"][0].get("gpu") == "0"  # speech.asr.device cpu: no GPU asked


def test_train_jobs_ask_for_a_gpu_only_for_torch_models(tmp_path):
    workdir = make_workdir(tmp_path, ["s01", "s02"], duration_s=12)
    run = snakemake(workdir, "-n", "--workflow-profile", "profiles/slurm", "--executor", "slurm")
    output = run.stdout + run.stderr
    gpus = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", output):
        rule = re.match(r"(?:local)?rule (train_\w+):", block.strip())
        wildcards = re.search(r"wildcards: .*method=([\w+-]+)", block)
        line = re.search(r"^\s+resources: (.*)$", block, re.M)
        if rule and wildcards and line:
            gpus[wildcards.group(1)] = dict(p.split("=", 1) for p in line.group(1).split(", ")).get("gpu")
    assert gpus == {"asformer": "1", "mstcn": "1", "majority": "0", "bigru": "1", "gbdt": "0"}


def test_profile_leaves_the_gpu_to_the_rules():
    text = (Path(__file__).parents[1] / "profiles" / "slurm" / "config.yaml").read_text()
    train = text.split('["train_steps", "train_states"]', 1)[1]
    assert "gpu:" not in train.split("\n\n", 1)[0]

"""The speech rules in the workflow: job counts (dry run) and a real run on a short demo session."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from egoinstruct.speech.quality import SpeechFiles, speech_errors
from egoinstruct.tables import read_table, table_metadata

from workflow_utils import make_workdir, snakemake


def _jobs(stdout: str) -> dict[str, int]:
    table = stdout.split("Job stats:", 1)[1]
    return {m.group(1): int(m.group(2)) for m in (re.match(r"^(\w+)\s+(\d+)\s*$", line.strip())
                                                   for line in table.splitlines()) if m}


def _set_config(workdir, **changes):
    """Set config keys given as dotted paths (``prosody.opensmile``)."""
    path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        section = config
        *parents, leaf = key.split(".")
        for parent in parents:
            section = section[parent]
        section[leaf] = value
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def test_dry_run_has_one_speech_job_per_session(tmp_path):
    workdir = make_workdir(tmp_path, ["s01", "s02"])
    jobs = _jobs(snakemake(workdir, "-n").stdout)
    assert jobs["transcribe"] == 2 and jobs["prosody"] == 2 and "egemaps" not in jobs
    _set_config(workdir, **{"prosody.opensmile": True})
    jobs = _jobs(snakemake(workdir, "-n").stdout)
    assert jobs["egemaps"] == 2


@pytest.mark.slow
def test_speech_stage_on_a_demo_session(tmp_path):
    workdir = make_workdir(tmp_path, ["s01"], duration_s=20)
    _set_config(workdir, **{"prosody.opensmile": True})
    base = "results/sessions/s01"
    snakemake(workdir, "--cores", "2", f"{base}/speech.png", f"{base}/egemaps.parquet")
    results = workdir / base
    transcript = read_table(results / "transcript.parquet", "transcript").to_pandas()
    assert len(transcript) > 3 and set(transcript.role) <= {"instructor", "learner"}
    assert table_metadata(results / "transcript.parquet")["session"] == "s01"
    quality = json.loads((results / "transcript.json").read_text())
    # both wearers' glasses have audio: who speaks comes from their level difference
    assert quality["diarization"]["method"] == "level" and quality["settings"]["source"] == "reference"
    assert quality["diarization"]["evidence"]["decided_by_level"] > 0.5 and quality["warnings"] == []
    for kind in ("prosody", "prosody_utterances", "egemaps", "speaker_turns"):
        assert read_table(results / f"{kind}.parquet", kind).num_rows > 0
    assert (results / "speech.png").stat().st_size > 10_000
    files = SpeechFiles("s01", workdir / "resources" / "demo" / "s01" / "truth" / "dialogue.tsv",
                        results / "transcript.parquet", results / "speaker_turns.parquet", results / "transcript.json")
    errors = speech_errors([files]).iloc[0]
    assert errors.role_accuracy >= 0.95 and errors.wer < 0.35 and errors.der_collar < 0.1

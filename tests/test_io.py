"""Atomic outputs and what a job prints when its input is bad."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from egoinstruct.errors import InputError
from egoinstruct.io import atomic_path, remove_stale_temporaries, write_json


def test_a_failed_write_leaves_neither_file_nor_temporary(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_the_next_writer_removes_what_a_killed_one_left(tmp_path):
    target = tmp_path / "table.parquet"
    # a job killed with SIGKILL between writing its temporary and the rename leaves this behind
    stale = [tmp_path / ".table.parquet.a1b2c3.parquet", tmp_path / ".table.parquet.zz.parquet"]
    for path in stale:
        path.write_bytes(b"partial")
    other = tmp_path / ".other.parquet.x.parquet"  # another output's temporary is not ours to touch
    other.write_bytes(b"partial")
    write_json(target, {"ok": True})
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.parquet.x.parquet", "table.parquet"]
    assert remove_stale_temporaries(target) == []


SCRIPT = """
import sys
from egoinstruct.errors import InputError
from egoinstruct.logutil import rule_logging
with rule_logging(sys.argv[1]) as log:
    log.info("reading the sheet")
    {body}
"""


def _job(tmp_path, body: str) -> tuple[subprocess.CompletedProcess[str], str]:
    log = tmp_path / "job.log"
    result = subprocess.run([sys.executable, "-c", SCRIPT.format(body=body), str(log)], capture_output=True, text=True)
    return result, log.read_text()


def test_a_bad_input_ends_the_job_with_one_paragraph_and_no_traceback(tmp_path):
    result, log = _job(tmp_path, 'raise InputError("sheet.tsv: line 3, column role: \'student\'; use learner")')
    assert result.returncode == 1
    for text in (result.stderr, log):
        assert "bad input: sheet.tsv: line 3, column role: 'student'; use learner" in text
        assert "Traceback" not in text
    assert len(result.stderr.strip().splitlines()) == 2  # the info line and the error


def test_a_bug_keeps_its_traceback(tmp_path):
    result, log = _job(tmp_path, "raise KeyError('x')")
    assert result.returncode == 1 and "Traceback" in result.stderr and "KeyError" in log


def test_rule_logging_passes_input_errors_on_as_exit_status_1(tmp_path):
    from egoinstruct.logutil import rule_logging

    with pytest.raises(SystemExit) as stopped, rule_logging(tmp_path / "log"):
        raise InputError("x.csv: row 2: no samples")
    assert stopped.value.code == 1
    logging.shutdown()

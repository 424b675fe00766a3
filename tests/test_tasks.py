"""The task registry: names, label files, which sessions take part, errors that name the tasks."""

from __future__ import annotations

import pytest

from egoinstruct.errors import InputError
from egoinstruct.labels import load_labels
from egoinstruct.paths import LABELS_DIR
from egoinstruct.tasks import (
    STATES,
    STEPS,
    TASK_NAMES,
    TASKS,
    check_task_names,
    get_task,
    task_sessions,
)


def test_registry_order_and_names():
    assert TASK_NAMES == ("steps", "states") and list(TASKS) == list(TASK_NAMES)
    assert TASKS["steps"] is STEPS and TASKS["states"] is STATES
    for name, task in TASKS.items():
        assert task.name == name and task.title and task.question.endswith("?")
    assert (STEPS.label_column, STATES.label_column) == ("step", "state")
    assert STEPS.segmental and not STATES.segmental


def test_label_file_name():
    assert STEPS.label_file_name("block_assembly") == "steps_block_assembly.yaml"
    assert STATES.label_file_name() == "states.yaml"
    assert STATES.label_file_name("block_assembly") == "states.yaml"  # one set for every session
    for procedure in (None, ""):
        with pytest.raises(InputError, match="steps labels depend on the session's procedure, but none was given"):
            STEPS.label_file_name(procedure)


def test_every_task_has_its_bundled_label_files():
    for procedure in ("block_assembly", "paper_folding"):
        for task in TASKS.values():
            assert (LABELS_DIR / task.label_file_name(procedure)).is_file()
            labels = load_labels(LABELS_DIR, task.name, procedure if task.per_procedure else None)
            assert labels.labels


def test_takes_part_group_and_task_sessions():
    assert STEPS.takes_part("block_assembly") and not STEPS.takes_part(None) and not STEPS.takes_part("")
    assert STATES.takes_part(None) and STATES.takes_part("paper_folding")
    assert STEPS.group("paper_folding") == "paper_folding" and STATES.group("paper_folding") == "all"
    procedures = {"s1": "block_assembly", "s2": None, "s3": "paper_folding"}
    assert task_sessions(STEPS, procedures) == ["s1", "s3"]
    assert task_sessions(STATES, procedures) == ["s1", "s2", "s3"]


def test_unknown_task_names_the_known_ones():
    assert get_task("states") is STATES
    with pytest.raises(InputError, match=r"^unknown task 'gaze'; the tasks are steps, states$"):
        get_task("gaze")
    with pytest.raises(InputError, match=r"^config mllm\.tasks: unknown task 'tier'; the tasks are steps, states$"):
        get_task("tier", "config mllm.tasks")
    check_task_names(["steps", "states"], "x")
    with pytest.raises(InputError, match=r"^x: unknown task 'step'"):
        check_task_names(["states", "step"], "x")

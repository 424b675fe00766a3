"""The benchmark's tasks, defined once: what each is called, labelled and scored as.

A task is a tier of the annotations (``session, tier, t_start, t_end, label`` rows with
``tier`` = the task's name), a label set in ``resources/labels/`` and a column of the assembled
dataset; every stage (validation, assembly, baselines, MLLM prompts, evaluation, report) loops
over :data:`TASKS` instead of naming tasks, so a third task is one more entry here plus its label
files and config entries (methods, prompts' question, metric).

* ``per_procedure``: the label set depends on the session's procedure (``<name>_<procedure>.yaml``,
  e.g. ``steps_block_assembly.yaml``; sessions without a procedure take no part in the task), or is
  one set for every session (``<name>.yaml``).
* ``segmental``: scored as segments as well as frames (Edit, F1@k; background labels are dropped
  there), as action segmentation is; otherwise as frame classification with window-level
  metrics (:mod:`egoinstruct.evaluation`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from egoinstruct.errors import InputError


@dataclass(frozen=True)
class Task:
    name: str  # the annotation tier, the config key, the path component
    title: str  # headings of the report
    question: str  # what the MLLM prompt asks about a window
    label_column: str  # column of dataset.parquet
    per_procedure: bool
    segmental: bool

    def label_file_name(self, procedure: str | None = None) -> str:
        """File name of the task's label set in the labels folder."""
        if not self.per_procedure:
            return f"{self.name}.yaml"
        if not procedure:
            raise InputError(
                f"{self.name} labels depend on the session's procedure, but none was given; name the "
                "procedure in the annotation sheet"
            )
        return f"{self.name}_{procedure}.yaml"

    def group(self, procedure: str | None) -> str:
        """The label group a session is scored in: its procedure, or ``all``."""
        return (procedure or "") if self.per_procedure else "all"

    def takes_part(self, procedure: str | None) -> bool:
        """Whether a session with this procedure (None: none given) can have this task's labels."""
        return bool(procedure) or not self.per_procedure


STEPS = Task(
    name="steps",
    title="Step segmentation",
    question="Which step of the procedure is being carried out during this window?",
    label_column="step",
    per_procedure=True,
    segmental=True,
)
STATES = Task(
    name="states",
    title="Conversation states",
    question="Which conversation state best describes this window?",
    label_column="state",
    per_procedure=False,
    segmental=False,
)

#: Every task by name, in the order tables and reports show them.
TASKS: Mapping[str, Task] = {task.name: task for task in (STEPS, STATES)}
TASK_NAMES: tuple[str, ...] = tuple(TASKS)


def get_task(name: str, where: str = "") -> Task:
    """The task called ``name``; an :class:`InputError` naming the known ones otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        prefix = f"{where}: " if where else ""
        raise InputError(f"{prefix}unknown task {name!r}; the tasks are {', '.join(TASK_NAMES)}") from None


def check_task_names(names: Sequence[str], where: str) -> None:
    """Every name is a task (config keys keyed by task)."""
    for name in names:
        get_task(name, where)


def parse_task_list(text: str, where: str) -> tuple[str, ...]:
    """Task names from a sheet cell (``steps``, ``states``, ``steps,states``), in registry order;
    an empty cell means every task."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        get_task(name, where)
    return tuple(name for name in TASK_NAMES if name in names) if names else TASK_NAMES


def task_sessions(
    task: Task,
    procedures: Mapping[str, str | None],
    annotated_tasks: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """The sessions (of ``procedures``: session -> procedure or None) that take part in ``task``.

    ``annotated_tasks`` (session -> the tasks its annotations label) limits annotated sessions to
    their tasks: a steps-only session is never run or scored as a states session. Sessions
    without annotations take part in every task they can (zero-shot inference needs no labels).
    """
    annotated_tasks = annotated_tasks or {}
    return [
        s
        for s, procedure in procedures.items()
        if task.takes_part(procedure) and (s not in annotated_tasks or task.name in annotated_tasks[s])
    ]

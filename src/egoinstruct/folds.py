"""Cross-validation folds by session: deterministic, balanced across procedures, overridable.

Each task has its own folds over the sessions with its labels (:func:`task_folds`; a steps-only
session is in the steps folds only), written to ``results/models/<task>/folds.json``: ``{"k": 5, "seed": …, "folds": {"0": {"test": [...],
"train": [...]}, …}, "session_fold": {session: fold}, "source": {session: "sheet" | "auto"}}``
(plus ``"task"``); every model of the task reads it.
A session is in the test set of exactly one fold and in the training set of all the others, so no
model is ever trained on a session it is evaluated on.

Assignment: sessions with a ``fold`` in the sample sheet keep it. The others are grouped by
procedure; each group is shuffled with the seed and dealt round-robin, continuing from fold to
fold across groups and always onto the folds that hold the fewest sessions, so every fold gets a
similar number of sessions of every procedure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from egoinstruct.errors import InputError


def assign_folds(
    procedures: Mapping[str, str | None],
    k: int = 5,
    seed: int = 0,
    fixed: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Fold of every session. ``procedures``: session → procedure (None when unannotated);
    ``fixed``: session → fold from the sample sheet."""
    if k < 2:
        raise InputError(f"folds.k must be at least 2, got {k}")
    fixed = dict(fixed or {})
    bad = {s: f for s, f in fixed.items() if not 0 <= f < k}
    if bad:
        raise InputError(
            f"sample sheet fold(s) {bad} are outside 0..{k - 1}; use fold numbers below folds.k ({k})"
        )
    if len(procedures) < k:
        raise InputError(
            f"{len(procedures)} sessions cannot fill {k} folds; lower folds.k to at most {len(procedures)}"
        )
    assignment = dict(fixed)
    counts = np.bincount(list(fixed.values()), minlength=k).astype(int)
    groups: dict[str, list[str]] = {}
    for session, procedure in sorted(procedures.items()):
        if session not in fixed:
            groups.setdefault(procedure or "", []).append(session)
    rng = np.random.default_rng(seed)
    for procedure in sorted(groups):
        sessions = list(groups[procedure])
        rng.shuffle(sessions)
        per_fold = np.zeros(k, dtype=int)  # this procedure's sessions per fold
        for session in sessions:
            # fewest of this procedure first, then fewest overall, then lowest index
            fold = int(min(range(k), key=lambda f: (per_fold[f], counts[f], f)))
            assignment[session] = fold
            per_fold[fold] += 1
            counts[fold] += 1
    return assignment


@dataclass(frozen=True)
class TaskFolds:
    """One task's cross-validation: its sessions (those with its labels), k and the assignment;
    ``note``: why it differs from the configuration (fewer sessions than k, or too few to fold)."""

    sessions: list[str]
    k: int
    fold_of: dict[str, int]
    note: str | None = None


def task_folds(
    task: str,
    sessions: Sequence[str],
    procedures: Mapping[str, str | None],
    k: int,
    seed: int,
    sheet_folds: Mapping[str, int] | None = None,
) -> TaskFolds:
    """Folds of ``task`` over ``sessions`` (those with its labels): ``k`` folds, or one per session
    (leave one session out) when there are fewer; none when a single session has the labels (it
    cannot be cross-validated, so the task's baselines are left out). ``sheet_folds``: folds from
    the sample sheet, kept for the sessions of this task."""
    sessions = list(sessions)
    if len(sessions) < 2:
        note = f"{task}: only {len(sessions)} session has {task} labels: its baselines are left out" if sessions else None
        return TaskFolds([], 0, {}, note)
    used_k = min(k, len(sessions))
    note = None
    if used_k < k:
        note = (f"{task}: folds.k is {k} but only {len(sessions)} sessions have {task} labels: using {used_k} folds "
                "(leave one session out)")
    fixed = {s: f for s, f in (sheet_folds or {}).items() if s in sessions}
    return TaskFolds(sessions, used_k, assign_folds({s: procedures[s] for s in sessions}, used_k, seed, fixed), note)


def folds_document(
    procedures: Mapping[str, str | None], k: int, seed: int, fixed: Mapping[str, int] | None = None
) -> dict[str, object]:
    """The ``folds.json`` content (see the module docstring)."""
    assignment = assign_folds(procedures, k, seed, fixed)
    sessions = sorted(assignment)
    empty = [f for f in range(k) if not any(assignment[s] == f for s in sessions)]
    if empty:
        raise InputError(
            f"fold(s) {empty} would have no test session (the sample sheet's fold column leaves them "
            "empty); change the fold column or folds.k"
        )
    return {
        "k": k,
        "seed": seed,
        "folds": {
            str(f): {
                "test": [s for s in sessions if assignment[s] == f],
                "train": [s for s in sessions if assignment[s] != f],
            }
            for f in range(k)
        },
        "session_fold": {s: assignment[s] for s in sessions},
        "procedure": {s: procedures[s] for s in sessions},
        "source": {s: "sheet" if fixed and s in fixed else "auto" for s in sessions},
    }

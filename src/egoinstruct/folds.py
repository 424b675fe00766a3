"""Cross-validation folds by session: deterministic, balanced across procedures, overridable.

Every model reads the same ``folds.json``: ``{"k": 5, "seed": …, "folds": {"0": {"test": [...],
"train": [...]}, …}, "session_fold": {session: fold}, "source": {session: "sheet" | "auto"}}``.
A session is in the test set of exactly one fold and in the training set of all the others, so no
model is ever trained on a session it is evaluated on.

Assignment: sessions with a ``fold`` in the sample sheet keep it. The others are grouped by
procedure; each group is shuffled with the seed and dealt round-robin, continuing from fold to
fold across groups and always onto the folds that hold the fewest sessions, so every fold gets a
similar number of sessions of every procedure.
"""

from __future__ import annotations

from collections.abc import Mapping

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

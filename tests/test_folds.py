import pytest

from egoinstruct.errors import InputError
from egoinstruct.folds import assign_folds, folds_document, task_folds


def _paper_like(n=38):
    return {f"s{i:02d}": ("block_assembly" if i % 2 else "paper_folding") for i in range(1, n + 1)}


def test_no_session_is_ever_in_its_own_training_set():
    doc = folds_document(_paper_like(), k=5, seed=3)
    seen = []
    for fold in doc["folds"].values():
        assert not set(fold["test"]) & set(fold["train"])
        assert set(fold["test"]) | set(fold["train"]) == set(_paper_like())
        seen += fold["test"]
    assert sorted(seen) == sorted(_paper_like())  # each session tested exactly once


def test_balanced_across_procedures_and_sizes():
    procedures = _paper_like()
    folds = assign_folds(procedures, k=5, seed=1)
    for procedure in ("block_assembly", "paper_folding"):
        per_fold = [sum(1 for s, f in folds.items() if f == k and procedures[s] == procedure) for k in range(5)]
        assert max(per_fold) - min(per_fold) <= 1
    sizes = [list(folds.values()).count(k) for k in range(5)]
    assert max(sizes) - min(sizes) <= 1


def test_deterministic_and_seeded():
    assert assign_folds(_paper_like(), 5, seed=7) == assign_folds(_paper_like(), 5, seed=7)
    assert assign_folds(_paper_like(), 5, seed=7) != assign_folds(_paper_like(), 5, seed=8)


def test_sheet_folds_override():
    fixed = {"s01": 4, "s02": 4}
    doc = folds_document(_paper_like(10), k=5, seed=0, fixed=fixed)
    assert doc["session_fold"]["s01"] == 4 and doc["session_fold"]["s02"] == 4
    assert doc["source"]["s01"] == "sheet" and doc["source"]["s03"] == "auto"


def test_bad_fold_settings():
    with pytest.raises(InputError, match="lower folds.k to at most 3"):
        assign_folds(_paper_like(3), k=5)
    with pytest.raises(InputError, match="outside 0..4"):
        assign_folds(_paper_like(10), k=5, fixed={"s01": 7})
    with pytest.raises(InputError, match="would have no test session"):
        folds_document(_paper_like(5), k=5, seed=0, fixed={f"s{i:02d}": 0 for i in range(1, 6)})


def test_each_task_is_folded_over_its_own_sessions():
    procedures = _paper_like(10)
    steps = task_folds("steps", list(procedures), procedures, k=5, seed=0, sheet_folds={"s01": 4})
    assert steps.k == 5 and steps.note is None and steps.fold_of["s01"] == 4
    assert sorted(steps.fold_of) == sorted(procedures)
    # a task three sessions label: leave one session out, said in the note; sheet folds of other sessions ignored
    states = task_folds("states", ["s02", "s05", "s07"], procedures, k=5, seed=0, sheet_folds={"s01": 4})
    assert states.k == 3 and sorted(states.fold_of.values()) == [0, 1, 2]
    assert "only 3 sessions have states labels: using 3 folds" in states.note
    # one session cannot be cross-validated; none is nothing to say
    one = task_folds("states", ["s02"], procedures, k=5, seed=0)
    assert (one.sessions, one.k, one.fold_of) == ([], 0, {}) and "baselines are left out" in one.note
    assert task_folds("states", [], procedures, k=5, seed=0).note is None

import pytest

from egoinstruct.errors import InputError
from egoinstruct.folds import assign_folds, folds_document


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

import pytest

from egoinstruct.errors import InputError
from egoinstruct.labels import load_labels


def test_bundled_label_sets(repo_root):
    labels_dir = repo_root / "resources" / "labels"
    states = load_labels(labels_dir, "states")
    assert states.labels[0] == "instructor_explains"
    assert "silent_work" in states and "nonsense" not in states
    for procedure in ("block_assembly", "paper_folding"):
        steps = load_labels(labels_dir, "steps", procedure)
        assert steps.labels[0] == "background"
        assert steps.procedure == procedure
        assert all(steps.descriptions[label] for label in steps.labels)


def test_missing_label_set_says_how_to_fix(tmp_path):
    with pytest.raises(InputError, match="label set not found"):
        load_labels(tmp_path, "steps", "juggling")


def test_steps_need_procedure(tmp_path):
    with pytest.raises(InputError, match="procedure"):
        load_labels(tmp_path, "steps")


def test_label_without_description(tmp_path):
    (tmp_path / "states.yaml").write_text("tier: states\nlabels:\n  a: ''\n  b: fine\n")
    with pytest.raises(InputError, match="lack a one-line description"):
        load_labels(tmp_path, "states")

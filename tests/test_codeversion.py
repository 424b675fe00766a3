"""Code digests: each rule script's digest covers exactly the package modules it can run."""

from __future__ import annotations

from pathlib import Path

from egoinstruct.codeversion import PACKAGE_DIR, code_digest, module_closure
from egoinstruct.paths import REPO_ROOT

SCRIPTS = REPO_ROOT / "workflow" / "scripts"


def _modules(script: str) -> set[str]:
    return {str(p.relative_to(PACKAGE_DIR)) for p in module_closure(str(SCRIPTS / script)) if p.is_relative_to(PACKAGE_DIR)}


def test_closure_follows_imports_transitively_and_stays_in_its_stage() -> None:
    assemble = _modules("assemble.py")
    # the script imports egoinstruct.dataset.stage, which imports assemble, table, text, annotations
    assert {"dataset/stage.py", "dataset/assemble.py", "dataset/table.py", "dataset/text.py",
            "annotations.py", "tables.py", "__init__.py", "dataset/__init__.py"} <= assemble
    assert not any(m.startswith(("speech/", "mllm/", "models/")) for m in assemble)
    transcribe = _modules("transcribe.py")
    assert "speech/asr.py" in transcribe and not any(m.startswith("dataset/") for m in transcribe)


def test_from_import_of_a_submodule_counts(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text("from egoinstruct.models import (\n    majority,  # the reference\n)\nimport os\n")
    modules = {p.name for p in module_closure(str(script))}
    assert {"majority.py", "__init__.py", "script.py"} <= modules


def test_digest_changes_with_the_code_and_only_then(tmp_path: Path) -> None:
    script = tmp_path / "a.py"
    script.write_text("import egoinstruct.folds\n")
    first = code_digest(script)
    assert code_digest(str(tmp_path / "a.py")) == first and len(first) == 16
    other = tmp_path / "b.py"
    other.write_text("import egoinstruct.folds\nprint('changed')\n")
    assert code_digest(other) != first

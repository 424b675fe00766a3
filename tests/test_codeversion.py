"""Code digests: each rule script's digest covers exactly the package modules it can run."""

from __future__ import annotations

from pathlib import Path

from egoinstruct.codeversion import (
    PACKAGE_DIR,
    _imported_modules,
    _named_modules,
    code_digest,
    module_closure,
)
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


BACKENDS = PACKAGE_DIR / "mllm" / "backends"


def test_modules_loaded_by_name_count() -> None:
    # backends/base.py names the backends in strings and imports them with importlib
    assert {"mllm/backends/openai_server.py", "mllm/backends/llama_cpp.py",
            "mllm/backends/transformers_local.py"} <= _modules("mllm_predict.py")
    assert {"egoinstruct.mllm.backends.openai_server", "egoinstruct.mllm.backends.llama_cpp",
            "egoinstruct.mllm.backends.transformers_local"} <= _named_modules((BACKENDS / "base.py").read_text())


def test_only_a_string_that_is_an_existing_module_counts(tmp_path: Path) -> None:
    text = ('BACKEND = "egoinstruct.models.majority"\nOTHER = \'egoinstruct.folds\'\n'
            'MISSING = "egoinstruct.nope"\nKEY = "egoinstruct.tabular-model"\nPREFIX = "egoinstruct."\n'
            'MESSAGE = "egoinstruct.tables must be imported"\n')
    assert _named_modules(text) == {"egoinstruct.models.majority", "egoinstruct.folds"}
    script = tmp_path / "script.py"
    script.write_text('import importlib\nimportlib.import_module("egoinstruct.models.majority")\n'
                      'NOPE = "egoinstruct.nope"\n')
    modules = {str(p.relative_to(PACKAGE_DIR)) for p in module_closure(str(script)) if p.is_relative_to(PACKAGE_DIR)}
    # the named module and the packages Python runs on the way; nothing for the missing one
    assert {"models/majority.py", "models/__init__.py", "__init__.py"} <= modules
    assert not any("nope" in m for m in modules)


def _clear_caches() -> None:
    code_digest.cache_clear()
    module_closure.cache_clear()
    _imported_modules.cache_clear()


def test_editing_a_backend_changes_the_mllm_digest_only() -> None:
    backend = BACKENDS / "openai_server.py"
    original = backend.read_bytes()
    edit = b"\n# a test edit (tests/test_codeversion.py), taken out again\n"
    _clear_caches()
    before = {s: code_digest(SCRIPTS / s) for s in ("mllm_predict.py", "frames.py")}
    try:
        backend.write_bytes(original + edit)
        _clear_caches()
        after = {s: code_digest(SCRIPTS / s) for s in ("mllm_predict.py", "frames.py")}
    finally:
        # the original bytes; taking out only our line keeps an edit someone made meanwhile
        current = backend.read_bytes()
        backend.write_bytes(current.replace(edit, b"", 1) if edit in current else original)
        _clear_caches()
    assert after["mllm_predict.py"] != before["mllm_predict.py"]
    assert after["frames.py"] == before["frames.py"]

"""A digest of the package code a rule script runs, so that editing it reruns that rule's jobs.

Snakemake's ``code`` rerun trigger sees a rule's own script, not the library it calls. Each rule
therefore passes ``code=code_digest(<its script>)`` as a param: the SHA-256 of the script and of
every ``egoinstruct`` module it imports, directly or through other ``egoinstruct`` modules
(including the ``__init__`` of each package on the way, which Python runs on import). Editing
``egoinstruct/speech/asr.py`` changes the digest of the transcription rule only; editing a module
every stage uses (``egoinstruct.tables``) changes them all, as it should.

Imports are read statically (import statements, never importing the modules), so the digest
costs milliseconds. Imports inside functions count too: a lazily imported backend is still code the rule
may run. Modules loaded by name count as well: a quoted string that is exactly the dotted name of an existing
``egoinstruct`` module is read as an import of it. ``mllm/backends/base.py`` names its backends so
and loads them with ``importlib``; without this, editing a backend would not rerun the MLLM jobs.
(A quoted module name that is never imported only costs a needless rerun.)
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path

PACKAGE = "egoinstruct"
PACKAGE_DIR = Path(__file__).resolve().parent


def module_file(name: str) -> Path | None:
    """The source file of module ``name`` (``egoinstruct.x.y``), or None if it is not one."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


_IMPORT = re.compile(r"^\s*import\s+(egoinstruct[\w.]*)", re.M)
_FROM = re.compile(r"^\s*from\s+(egoinstruct[\w.]*)\s+import\s+(\([^)]*\)|[^\n]*)", re.M)
# a dotted name under the package that ends a string: "egoinstruct.x.y" (the opening quote is checked
# apart; starting the pattern with the literal word is 5x faster than with the quote)
_NAMED = re.compile(r"""egoinstruct(?:\.[A-Za-z_]\w*)+(?=["'])""")


def _named_modules(text: str) -> set[str]:
    """``egoinstruct`` modules named by a string literal of ``text`` (modules loaded by name).

    Only a literal that is exactly a module's dotted name, and only if that module exists:
    ``"egoinstruct.nope"`` or a metadata key ``"egoinstruct.tabular-model"`` is not code.
    """
    names = set()
    for match in _NAMED.finditer(text):
        start, end = match.span()
        if start and text[start - 1] == text[end]:  # the whole literal: the same quote on both sides
            names.add(match.group())
    return {name for name in names if module_file(name) is not None}


@cache
def _imported_modules(path: Path) -> frozenset[str]:
    """``egoinstruct`` modules one file imports or names in a string (and their parent packages).

    A string naming a module is how a module loaded by name (``importlib``) shows up statically.
    A regular expression over import statements rather than a parse: it runs on every
    ``snakemake`` start, for every module, and must stay in the milliseconds.
    """
    text = path.read_text(encoding="utf-8")
    names = set(_IMPORT.findall(text)) | _named_modules(text)
    for module, imported in _FROM.findall(text):
        names.add(module)
        # `from egoinstruct.x import y`: y may be a submodule
        for alias in imported.strip("()").replace("\n", " ").split(","):
            alias = alias.split("#")[0].strip().split(" as ")[0].strip()
            if alias.isidentifier():
                names.add(f"{module}.{alias}")
    found: set[str] = set()
    for name in names:
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            prefix = ".".join(parts[:depth])
            if module_file(prefix) is not None:
                found.add(prefix)
    return frozenset(found)


@cache
def module_closure(script: str) -> tuple[Path, ...]:
    """``script`` and every package file it reaches through imports, sorted."""
    start = Path(script).resolve()
    seen: set[Path] = {start}
    todo = [start]
    while todo:
        for name in _imported_modules(todo.pop()):
            path = module_file(name)
            if path is not None and path not in seen:
                seen.add(path)
                todo.append(path)
    return tuple(sorted(seen))


@cache
def code_digest(script: str | Path) -> str:
    """16 hex digits of SHA-256 over the code ``script`` runs (see the module docstring)."""
    digest = hashlib.sha256()
    for path in module_closure(str(script)):
        label = path.relative_to(PACKAGE_DIR.parent) if path.is_relative_to(PACKAGE_DIR.parent) else path.name
        digest.update(str(label).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]

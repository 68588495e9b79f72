"""What `pip install -r requirements*.txt` promises: every third-party package the code imports is
declared (the app's own imports in requirements.txt itself), the CPU-index line is there with torch
pinned to a public version that also matches the index's `+cpu` build, majors are capped where the code
leans on a library's internals, and the classroom constraints file pins what the requirements name."""
from __future__ import annotations

import ast
import functools
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CODE_DIRS = ("app", "visuals", "rwkv_core", "scripts", "tests", "lessons")
RUNTIME_DIRS = ("app", "visuals", "rwkv_core")       # what `streamlit run` and the engine import
REQUIREMENTS = {name: ROOT / name for name in ("requirements.txt", "requirements-test.txt", "requirements-train.txt")}
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _name(spec: str) -> str:
    """The normalised project name of a requirement line ('huggingface_hub>=0.23,<3' -> 'huggingface-hub')."""
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec).group(0)).lower()


def requirement_lines(path: Path) -> list[str]:
    """The requirement lines of one file, comments, options and -r includes left out."""
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("-")]


def declared(*files: str) -> set[str]:
    return {_name(line) for f in files for line in requirement_lines(REQUIREMENTS[f])}


def _local_names() -> set[str]:
    """Our own top-level modules: the repository's packages and every module file in the code folders
    (tests and scripts import their neighbours, e.g. `from app_helpers import ...`)."""
    names = {p.name for p in ROOT.iterdir() if p.is_dir()} | {p.stem for p in ROOT.glob("*.py")}
    for d in CODE_DIRS:
        names |= {p.stem for p in (ROOT / d).rglob("*.py")} | {p.name for p in (ROOT / d).rglob("*") if p.is_dir()}
    return names


def imports(dirs, *, module_level_only: bool = False) -> dict[str, set[str]]:
    """Third-party top-level module name -> the files importing it (relative paths)."""
    local, std = _local_names(), set(sys.stdlib_module_names) | {"__future__"}
    found: dict[str, set[str]] = {}
    for d in dirs:
        for path in (ROOT / d).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            nodes = tree.body if module_level_only else ast.walk(tree)
            for node in nodes:
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    mods = [node.module]
                else:
                    continue
                for mod in mods:
                    top = mod.split(".")[0]
                    if top not in std and top not in local:
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


@functools.lru_cache(maxsize=1)
def _providers() -> dict[str, list[str]]:
    return metadata.packages_distributions()


def distribution(module: str) -> str:
    """The installed project that provides a top-level module (PIL -> pillow)."""
    dists = _providers().get(module)
    if not dists and _name(module) in declared(*REQUIREMENTS):
        return _name(module)       # declared under its own name, but not installed here (e.g. matplotlib
                                   # of requirements-train.txt in a run that installed the tests' files)
    if not dists:
        pytest.fail(f"`import {module}` is used but no installed package provides it: declare it in a "
                    "requirements file and install it")
    return _name(sorted(dists)[0])


def test_every_third_party_import_is_declared():
    everything = declared(*REQUIREMENTS)
    missing = {m: sorted(files)[:3] for m, files in imports(CODE_DIRS).items() if distribution(m) not in everything}
    assert not missing, f"imported but in no requirements file: {missing}"


def test_the_apps_module_level_imports_are_in_requirements_txt():
    """`pip install -r requirements.txt && streamlit run ...` alone must be enough for the app."""
    runtime = declared("requirements.txt")
    missing = {m: sorted(files)[:3] for m, files in imports(RUNTIME_DIRS, module_level_only=True).items()
               if distribution(m) not in runtime}
    assert not missing, f"the app imports these at load time but requirements.txt lacks them: {missing}"


def test_requirements_txt_asks_for_the_cpu_build_of_torch():
    text = REQUIREMENTS["requirements.txt"].read_text()
    assert re.search(rf"^--extra-index-url {re.escape(CPU_INDEX)}\s*$", text, re.M)
    torch = [line for line in requirement_lines(REQUIREMENTS["requirements.txt"]) if _name(line) == "torch"]
    # a public version: `==2.13.0` matches the index's 2.13.0+cpu (PEP 440 ignores the local label when the
    # specifier has none) and pip prefers it to PyPI's 2.13.0; `==2.13.0+cpu` would fail on macOS
    assert len(torch) == 1 and re.fullmatch(r"torch==\d+\.\d+\.\d+", torch[0].replace(" ", "")), torch


def test_majors_are_capped_where_internals_are_used():
    specs = {_name(line): line for f in REQUIREMENTS for line in requirement_lines(REQUIREMENTS[f])}
    uses_private_frames = any("_frame_objs" in p.read_text() for d in RUNTIME_DIRS for p in (ROOT / d).rglob("*.py"))
    capped = {"huggingface-hub", "transformers"} | ({"plotly"} if uses_private_frames else set())
    for name in capped:
        assert "<" in specs[name], f"{name} leans on internals: cap its major ({specs[name]})"


def test_constraints_pin_everything_the_requirements_name():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version and "+" not in version, f"constraints.txt: exact public versions only, not {line!r}"
            pins[_name(name)] = version
    missing = declared(*REQUIREMENTS) - set(pins)
    assert not missing, f"constraints.txt lacks {sorted(missing)}"

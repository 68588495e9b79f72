"""The layers stay apart, read from the source: every `import` and `from ... import` of every module
of the project's packages, at any depth (inside functions too), relative ones resolved, makes one
graph, and these rules hold on it (ARCHITECTURE.md explains them):

  rwkv_core   the RWKV-4 engine: only itself and third-party libraries, never Streamlit, plotly, matplotlib
  rivals      the other model kinds: rivals and rwkv_core (no UI, no figures, as for all three)
  lab         registry of kinds, training, evaluation, benchmarks: lab, rivals, rwkv_core
  visuals     pure plotly figures: no app, no Streamlit
  app         the Streamlit app (its pages in app/app_pages/, the lessons in app/lessons/): no scripts
  scripts     tools: anything

and no module imports itself back through others (no cycle among the project's modules). The
checker is run on a small planted package first, so that a checker which finds nothing fails.
Also kept from before: the engine imported for real pulls in no UI module, and the independent
reference implementation (lab/reference.py) imports nothing from the engine.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rwkv_core", "rivals", "lab", "visuals", "app", "scripts")
NO_UI_NO_FIGURES = ("streamlit", "plotly", "matplotlib")

# package → the project's packages it may import (itself included), and the libraries it must not
MAY_IMPORT: dict[str, tuple[set[str], tuple[str, ...]]] = {
    "rwkv_core": ({"rwkv_core"}, NO_UI_NO_FIGURES),
    "rivals": ({"rivals", "rwkv_core"}, NO_UI_NO_FIGURES),
    "lab": ({"lab", "rivals", "rwkv_core"}, NO_UI_NO_FIGURES),
    "visuals": ({"visuals", "lab", "rivals", "rwkv_core"}, ("streamlit",)),
    "app": ({"app", "visuals", "lab", "rivals", "rwkv_core"}, ()),
    "scripts": (set(PACKAGES), ()),
}


# --- the graph ------------------------------------------------------------------------------------

def module_names(root: Path, packages=PACKAGES) -> dict[str, Path]:
    """Dotted name → file, for every .py under the packages (app/app_pages/x.py → app.app_pages.x)."""
    out = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imported_names(path: Path, name: str) -> set[str]:
    """Every dotted name the file imports, at any depth, relative ones resolved. `from X import y`
    gives X.y: y may be a module or a name defined in X (import_graph keeps the longest known module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            out |= {f"{mod}.{a.name}" for a in node.names}
    return out


def import_graph(root: Path, packages=PACKAGES) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(project edges: module → the project's modules it imports, each at its longest known name;
    outside: module → the top-level names of everything else it imports)."""
    modules = module_names(root, packages)
    edges, outside = {}, {}
    for name, path in modules.items():
        edges[name], outside[name] = set(), set()
        for imp in imported_names(path, name):
            if imp.split(".")[0] in packages:
                known = [p for p in _prefixes(imp) if p in modules]
                if known:
                    edges[name].add(known[0])
            else:
                outside[name].add(imp.split(".")[0])
        edges[name].discard(name)
    return edges, outside


def _prefixes(dotted: str) -> list[str]:
    parts = dotted.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


# --- the rules ------------------------------------------------------------------------------------

def layer_violations(edges: dict[str, set[str]], outside: dict[str, set[str]], rules=MAY_IMPORT) -> list[str]:
    """'a imports b' for every import that crosses a layer the wrong way."""
    out = []
    for mod in sorted(edges):
        allowed, banned = rules[mod.split(".")[0]]
        out += [f"{mod} imports {dep}" for dep in sorted(edges[mod]) if dep.split(".")[0] not in allowed]
        out += [f"{mod} imports {lib}" for lib in sorted(outside[mod]) if lib in banned]
    return out


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle of imports [a, b, ..., a] for each group of modules that import each other
    (depth-first search; a module met again on the current path closes a cycle)."""
    done: set[str] = set()
    cycles: list[list[str]] = []

    def visit(m: str, path: list[str]) -> None:
        path.append(m)
        for dep in sorted(edges.get(m, ())):
            if dep in path:
                cycle = path[path.index(dep):] + [dep]
                if not any(set(cycle) & set(c) for c in cycles):      # one per group is enough
                    cycles.append(cycle)
            elif dep not in done:
                visit(dep, path)
        path.pop()
        done.add(m)

    for m in sorted(edges):
        if m not in done:
            visit(m, [])
    return cycles


# --- the checker works: a planted package with one of each mistake --------------------------------

def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_the_checker_finds_planted_violations_and_cycles(tmp_path):
    _write(tmp_path, {
        "rwkv_core/__init__.py": "",
        "rwkv_core/ops.py": "import torch\n\ndef f():\n    import streamlit\n    from lab import bench\n",
        "rwkv_core/a.py": "from . import b\n",
        "rwkv_core/b.py": "def g():\n    from .a import x\n",         # a function-level import closes a → b → a
        "rivals/__init__.py": "",
        "rivals/lstm.py": "from rwkv_core import ops\nfrom ..lab.kinds import KINDS\n",
        "lab/__init__.py": "", "lab/bench.py": "import plotly.graph_objects as go\n",
        "lab/kinds.py": "KINDS = {}\n",
        "visuals/__init__.py": "", "visuals/x.py": "from app.lessons import views\n",
        "app/__init__.py": "", "app/lessons/__init__.py": "", "app/lessons/views.py": "from visuals import x\n",
        "scripts/__init__.py": "",
    })
    edges, outside = import_graph(tmp_path)
    assert edges["rivals.lstm"] == {"rwkv_core.ops", "lab.kinds"}          # relative ones resolved
    assert layer_violations(edges, outside) == [
        "lab.bench imports plotly", "rivals.lstm imports lab.kinds", "rwkv_core.ops imports lab.bench",
        "rwkv_core.ops imports streamlit", "visuals.x imports app.lessons.views"]
    assert find_cycles(edges) == [["app.lessons.views", "visuals.x", "app.lessons.views"],
                                  ["rwkv_core.a", "rwkv_core.b", "rwkv_core.a"]]
    del edges["app.lessons.views"], edges["rwkv_core.b"]
    assert find_cycles(edges) == []


# --- the project ----------------------------------------------------------------------------------

def test_the_graph_covers_every_package_and_the_pages():
    edges, _ = import_graph(ROOT)
    assert {m.split(".")[0] for m in edges} == set(PACKAGES)
    assert {"app.app_pages.explorer", "app.lessons.views", "rwkv_core.fast", "lab.kinds"} <= set(edges)
    assert "rwkv_core.ops" in edges["rwkv_core.fast"]


def test_every_import_points_down_the_layers():
    wrong = layer_violations(*import_graph(ROOT))
    assert not wrong, "imports against the layers (ARCHITECTURE.md):\n" + "\n".join(wrong)


def test_no_module_imports_itself_back():
    cycles = find_cycles(import_graph(ROOT)[0])
    assert not cycles, "import cycles:\n" + "\n".join(" → ".join(c) for c in cycles)


def test_the_engine_imported_for_real_brings_no_ui_module():
    """Every module of rwkv_core imported in a fresh interpreter (what the source graph cannot see:
    an import done by a library on our behalf): no UI, figure, lab or rival module comes with them."""
    check = """
import importlib, pkgutil, sys
import rwkv_core
for m in pkgutil.walk_packages(rwkv_core.__path__, "rwkv_core."):
    if not m.name.endswith("__main__"):
        importlib.import_module(m.name)
print(sorted({n.split(".")[0] for n in sys.modules} & {"streamlit", "plotly", "visuals", "app", "lab", "rivals"}))
"""
    out = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


def test_the_reference_implementation_imports_nothing_from_the_engine():
    """lab/reference.py is the lessons' and tests' independent plain form: checking the engine
    against it means something only if it shares no code with the engine."""
    names = imported_names(ROOT / "lab" / "reference.py", "lab.reference")
    assert {n.split(".")[0] for n in names} <= {"__future__", "torch"}, names

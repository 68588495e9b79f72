"""The layers stay apart: app → visuals → rwkv_core, never back. The engine imports no UI, and the
reference implementation (lab/reference.py) imports nothing from the engine, so that
checking one against the other means something."""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_rwkv_core_imports_neither_streamlit_nor_plotly_nor_visuals():
    """Every module of rwkv_core imported in a fresh interpreter: no UI module comes with them."""
    check = """
import importlib, pkgutil, sys
import rwkv_core
for m in pkgutil.walk_packages(rwkv_core.__path__, "rwkv_core."):
    if not m.name.endswith("__main__"):
        importlib.import_module(m.name)
print(sorted({n.split(".")[0] for n in sys.modules} & {"streamlit", "plotly", "visuals", "app"}))
"""
    out = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


def test_the_reference_implementation_imports_nothing_from_the_engine():
    tree = ast.parse((ROOT / "rwkv_core" / "reference.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {("." * n.level) + (n.module or "") for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"__future__", "torch"}, imported

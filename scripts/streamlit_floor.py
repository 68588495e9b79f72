"""Which Streamlit releases have every function and keyword argument the app calls: a first check of
requirements.txt's floor before the app's tests are run against the oldest candidate.

    pip download --no-deps --only-binary :all: -d /tmp/st streamlit==1.60.0 streamlit==1.66.0 ...
    python scripts/streamlit_floor.py /tmp/st

For each wheel (oldest first) prints OK or what it lacks, e.g. `button(shortcut=)`. Calls are matched by
name (`c1.button(...)` is `button`), so a function of ours that shares a Streamlit function's name shows
up as a false alarm on every line (record(), block()): read the lines side by side. A keyword a release
has but treats differently is not caught; that is what running the tests on the floor is for (README).
"""
from __future__ import annotations

import argparse
import ast
import re
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = {"get", "pop", "setdefault", "update", "items", "keys", "values", "append", "format", "join", "replace"}
API_DIRS = ("streamlit/elements/", "streamlit/commands/", "streamlit/runtime/", "streamlit/navigation/",
            "streamlit/__init__")


def app_calls(app_dir: Path) -> dict[str, set[str]]:
    """Method name -> the keyword arguments the app passes to it anywhere."""
    used: dict[str, set[str]] = {}
    for path in app_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr not in SKIP:
                used.setdefault(node.func.attr, set()).update(k.arg for k in node.keywords if k.arg)
    return used


def wheel_api(path: Path) -> dict[str, set[str]]:
    """Public function name -> its parameter names ('**' when it takes any keyword), in one wheel."""
    api: dict[str, set[str]] = {}
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.startswith(API_DIRS) and name.endswith(".py"):
                try:
                    tree = ast.parse(z.read(name))
                except SyntaxError:
                    continue
                for d in ast.walk(tree):
                    if isinstance(d, ast.FunctionDef) and not d.name.startswith("_"):
                        params = api.setdefault(d.name, set())
                        params.update(a.arg for a in d.args.args + d.args.kwonlyargs)
                        if d.args.kwarg:
                            params.add("**")
    return api


def version(path: Path) -> tuple[int, ...]:
    return tuple(int(x) for x in re.match(r"streamlit-([\d.]+?)-", path.name).group(1).split("."))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("wheels", type=Path, help="a folder of streamlit-*.whl files")
    ap.add_argument("--app", type=Path, default=ROOT / "app")
    a = ap.parse_args(argv)
    wheels = sorted(a.wheels.glob("streamlit-*.whl"), key=version)
    if not wheels:
        raise SystemExit(f"no streamlit-*.whl in {a.wheels}")
    newest = wheel_api(wheels[-1])
    used = {f: ks for f, ks in app_calls(a.app).items() if f in newest}
    for w in wheels:
        api, missing = wheel_api(w), []
        for f, ks in sorted(used.items()):
            if f not in api:
                missing.append(f"{f}()")
            elif "**" not in api[f]:
                missing += [f"{f}({k}=)" for k in sorted(ks) if k not in api[f]]
        print(".".join(map(str, version(w))), "OK" if not missing else " ".join(missing))


if __name__ == "__main__":
    main()

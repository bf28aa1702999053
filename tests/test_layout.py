"""The package's layout keeps its rules (docs/architecture.md): no import cycle, the API
never imports the command line, no private name taken across modules, modules of a few
hundred lines."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "geozones"
#: Modules allowed over the limit while they wait to be split (none now); none may grow past 1,100.
LONG: set[str] = set()
LIMIT = 650


def modules() -> dict[str, tuple[Path, ast.Module]]:
    out = {}
    for f in sorted(PACKAGE.rglob("*.py")):
        parts = list(f.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = (f, ast.parse(f.read_text()))
    return out


def imports(name: str, f: Path, tree: ast.Module, top_level_only: bool):
    """(module imported, names taken) for each relative import of a module."""
    package = name if f.name == "__init__.py" else name.rsplit(".", 1)[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.If):  # (imports under TYPE_CHECKING are for type checkers only)
            continue
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
            names = [a.name for a in node.names]
            if not node.module:  # from . import x: the submodules
                for n in names:
                    yield f"{target}.{n}", []
            else:
                yield target, names


def test_no_import_cycle():
    mods = modules()
    graph = {m: {t for t, _ in imports(m, f, tree, top_level_only=True) if t in mods and t != m} for m, (f, tree) in mods.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(m, path):
        state[m] = 1
        for t in graph[m]:
            if state.get(t) == 1:
                cycles.append(path[path.index(t):] + [t] if t in path else path + [t])
            elif not state.get(t):
                visit(t, path + [t])
        state[m] = 2

    for m in graph:
        if not state.get(m):
            visit(m, [m])
    assert not cycles, cycles


def test_the_api_never_imports_the_command_line():
    for m, (f, tree) in modules().items():
        if m.startswith("geozones.cli") or m == "geozones.__main__":
            continue
        bad = [t for t, _ in imports(m, f, tree, top_level_only=False) if t.startswith("geozones.cli")]
        assert not bad, f"{m} imports {bad}"


def test_no_private_name_across_modules():
    found = []
    for m, (f, tree) in modules().items():
        for target, names in imports(m, f, tree, top_level_only=False):
            private = [n for n in names if n.startswith("_") and n != "__version__"]
            own = target.rsplit(".", 1)[0] == m.rsplit(".", 1)[0] and target.rsplit(".", 1)[-1].startswith("_")
            if private and not own:
                found.append(f"{m} takes {private} from {target}")
    assert not found, found


def test_modules_are_a_few_hundred_lines():
    long = {}
    for m, (f, _) in modules().items():
        n = len(f.read_text().splitlines())
        short = m.rsplit(".", 1)[-1]
        if n > (1100 if short in LONG else LIMIT):
            long[m] = n
    assert not long, long


def test_numbas_cache_never_goes_into_the_package(small_case, tmp_path):
    """Issue 16: numba's cache goes to the user's cache folder, never into the installed
    package (a probe's 'geozones weights' wrote the clipper's compiled code into
    geozones/__pycache__: only the engine's kernels set the folder)."""
    import os
    import shutil
    import subprocess
    import sys

    copy = tmp_path / "site"
    shutil.copytree(PACKAGE, copy / "geozones", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"} | {"PYTHONPATH": str(copy), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    c = small_case
    r = subprocess.run([sys.executable, "-m", "geozones", "-q", "weights", "--zones", str(c["zones"]), "--cells", str(c["cells"]),
                        "--model", "voronoi", "--out", str(tmp_path / "w.parquet")], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert not [p for p in (copy / "geozones").rglob("*") if p.suffix in (".nbi", ".nbc")]
    assert [p for p in (tmp_path / "cache" / "geozones" / "numba").rglob("*") if p.suffix == ".nbi"]  # (it compiled, and kept it there)

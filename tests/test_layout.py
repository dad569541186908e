"""The library's shape: small modules, no import cycles.

A cycle (module A imports B, which imports A, even inside a function) means
neither can be read or tested alone; the last one (``codec`` ↔ ``lof``)
was broken by moving the file layer to ``lic_files``.  Checked on the
source, without importing anything.
"""

import ast
from pathlib import Path

LIB = Path(__file__).resolve().parents[1] / "lic_lib"
MAX_LINES = 420                      # "no module over ~400 lines"


def _modules() -> dict[str, Path]:
    mods = {}
    for p in LIB.rglob("*.py"):
        parts = p.relative_to(LIB.parent).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return mods


def _imports(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """The library modules ``name`` imports, at any level of its code."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in mods else target)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out & mods.keys()


def test_no_import_cycles():
    mods = _modules()
    graph = {m: _imports(m, p, mods) - {m} for m, p in mods.items()}
    # a package's __init__ re-exporting its submodules is not a cycle
    graph = {m: {v for v in vs if not m.startswith(v + ".")}
             for m, vs in graph.items()}

    def reachable(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for v in graph[todo.pop()]:
                if v not in seen:
                    seen.add(v)
                    todo.append(v)
        return seen

    assert graph["lic_lib.lic_files"] >= {"lic_lib.codec", "lic_lib.lof"}
    cyclic = sorted(m for m in mods if m in reachable(m))
    assert not cyclic, f"modules on an import cycle: {cyclic}"


def test_modules_stay_small():
    sizes = {m: len(p.read_text().splitlines()) for m, p in _modules().items()}
    big = {m: n for m, n in sizes.items() if n > MAX_LINES}
    assert not big, f"split these modules: {big}"

"""The project's import graph has no circle: every module can be read, tested and replaced from the bottom up.

Imports inside functions count too: a lazy import hides a circle from Python's import machinery but not from a
reader, and it still couples the two modules both ways."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ebsd_env", "policies", "train", "eval")


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules that `name` imports, anywhere in its body (a package's own __init__ is not counted as
    importing its submodules' parents: `from pkg.mod import x` is an edge to pkg.mod only)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        found |= {target for target in targets if target in modules and target != name}
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_circle():
    modules = project_modules()
    graph = {name: imported_modules(name, path, modules) for name, path in modules.items()}
    # A package's __init__ re-exports its submodules; a submodule importing its own package's __init__ (for
    # `import ebsd_env` to register the env ids) is the one accepted back edge.
    for name in graph:
        graph[name] = {target for target in graph[name] if not name.startswith(target + ".")}
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_graph_sees_lazy_and_relative_imports(tmp_path):
    (tmp_path / "a.py").write_text("from . import b\n")
    (tmp_path / "b.py").write_text("def later():\n    from .a import thing\n")
    modules = {"p.a": tmp_path / "a.py", "p.b": tmp_path / "b.py"}
    graph = {name: imported_modules(name, path, modules) for name, path in modules.items()}
    assert graph == {"p.a": {"p.b"}, "p.b": {"p.a"}} and find_cycle(graph) == ["p.a", "p.b", "p.a"]


# The floors: the runtime (ebsd_env) at the bottom, the stopping policies on it, and the two top rooms that use
# both (train: learning; eval: measuring), which do not lean on each other. `ebsd_env.cli` reaches the top
# floors only by module name (importlib), so a plain `import ebsd_env` never loads them.
FLOORS = {"ebsd_env": 0, "policies": 1, "train": 2, "eval": 2}


def test_no_import_runs_upward_or_sideways_between_top_rooms():
    modules = project_modules()
    wrong = []
    for name, path in modules.items():
        for target in imported_modules(name, path, modules):
            here, there = name.split(".")[0], target.split(".")[0]
            if FLOORS[there] > FLOORS[here] or (here != there and FLOORS[there] == FLOORS[here]):
                wrong.append(f"{name} -> {target}")
    assert not wrong, "imports against the floors (see docs/architecture.md): " + ", ".join(wrong)


# The rooms of the runtime (docs/architecture.md): no folder crowded past what a reader scans at a glance.
MAX_MODULES_PER_FOLDER = 12


def documented_modules() -> set[str]:
    """The module paths listed in docs/architecture.md's module map."""
    import re

    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text[text.index("## Module map"):]
    return set(re.findall(r"^\| `([\w/]+\.py)` \|", section, flags=re.MULTILINE))


def test_the_architecture_map_matches_the_tree():
    on_disk = {str(path.relative_to(ROOT)) for path in project_modules().values()}
    documented = documented_modules()
    assert documented, "docs/architecture.md has no module map"
    assert not documented - on_disk, f"the map names modules that do not exist: {sorted(documented - on_disk)}"
    assert not on_disk - documented, f"modules missing from the map: {sorted(on_disk - documented)}"


def test_no_folder_is_crowded():
    from collections import Counter

    per_folder = Counter(str(path.parent.relative_to(ROOT)) for path in project_modules().values()
                         if path.name != "__init__.py")
    crowded = {folder: n for folder, n in per_folder.items() if n > MAX_MODULES_PER_FOLDER}
    assert not crowded, f"folders with more than {MAX_MODULES_PER_FOLDER} modules side by side: {crowded}"

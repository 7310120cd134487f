"""The shape of the code, checked: the import graph of judge/, api/ and workers/ has no cycle
(imports under TYPE_CHECKING and inside functions count: they hide cycles, they do not remove
them), judge/ never imports api/ or workers/, those two use no private name of judge/, and no
module grows past 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("judge", "api", "workers")
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def imports(name: str, path: Path) -> list[tuple[str, list[str]]]:
    """(module, imported names) for every import statement of the module, at any depth."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((base, [alias.name for alias in node.names]))
    return found


def graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (a package's submodule when a name is one)."""
    edges: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for module, names in imports(name, path):
            submodules = {f"{module}.{n}" for n in names} & MODULES.keys()
            if module in MODULES and (not names or len(submodules) < len(names)):
                edges[name].add(module)  # a name defined in the module itself
            edges[name].update(submodules)
        edges[name].discard(name)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_import_graph_has_no_cycle():
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_judge_never_imports_api_or_workers():
    wrong = {name: sorted(m for m in targets if m.split(".")[0] in ("api", "workers"))
             for name, targets in graph().items() if name.split(".")[0] == "judge"}
    assert {name: targets for name, targets in wrong.items() if targets} == {}


def test_api_and_workers_use_no_private_name_of_judge():
    private = []
    for name, path in MODULES.items():
        if name.split(".")[0] == "judge":
            continue
        for module, names in imports(name, path):
            if module.split(".")[0] != "judge":
                continue
            hidden = [part for part in module.split(".") if part.startswith("_")]
            hidden += [n for n in names if n.startswith("_")]
            private += [f"{name}: {module} {h}" for h in hidden]
    assert private == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_400_lines(name):
    assert len(MODULES[name].read_text().splitlines()) <= MAX_LINES

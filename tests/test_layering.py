"""The layering of the tree, read from the source: no import circle among the project's modules,
and the core never imports the layers built on it.

Layers, bottom to top: the core (`r1data/`: record, I/O, templates, backends, verifiers, rewards,
evaluation, launch), then `filters/`, `pipelines/` and `trainers/` (installed as `r1data.filters`,
`r1data.pipelines`, `r1data.trainers`), then the application: the CLI, its commands and the demo,
which compose everything. Every import counts, the ones inside function bodies included: a lazy
import hides an edge from the interpreter, not from the design.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import networkx as nx
import pytest

REPO = Path(__file__).resolve().parents[1]
UPPER = ("r1data.filters", "r1data.pipelines", "r1data.trainers")
APPLICATION = ("r1data.cli", "r1data.__main__", "r1data.commands", "r1data.demo")


def _modules() -> dict[str, Path]:
    """Every project module by its installed name, from pyproject's package-dir mapping."""
    mapping = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    modules: dict[str, Path] = {}
    for package, folder in mapping.items():
        for path in (REPO / folder).rglob("*.py"):
            parts = list(path.relative_to(REPO / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            name = ".".join([package, *parts])
            if package == "r1data" and name.startswith(UPPER):
                continue  # a folder of that name under r1data/ would be shadowed by the mapping
            modules[name] = path
    return modules


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            parts = module.split(".")[: len(module.split(".")) - (0 if is_package else 1)]
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join([*parts, *([node.module] if node.module else [])])
        return [base, *(f"{base}.{alias.name}" for alias in node.names)]
    return []


def import_graph() -> nx.DiGraph:
    """module -> module it imports (the innermost project module each import names), with the
    line of the first such import."""
    modules = _modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for name in _imported(node, module, path.name == "__init__.py"):
                target = name
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != module and not graph.has_edge(module, target):
                    graph.add_edge(module, target, line=node.lineno)
    return graph


def _where(graph: nx.DiGraph, a: str, b: str) -> str:
    return f"{a} -> {b} (line {graph.edges[a, b]['line']})"


def test_the_graph_sees_the_project():
    """Guards the two tests below against passing on an empty or broken graph."""
    graph = import_graph()
    assert {"r1data.record", "r1data.io", "r1data.filters.chain", "r1data.trainers.grpo",
            "r1data.cli"} <= set(graph)
    assert graph.has_edge("r1data.cli", "r1data.pipelines.publish")  # a lazy import, seen
    assert graph.has_edge("r1data.pipelines.recipe", "r1data.config")


def test_no_import_circle():
    graph = import_graph()
    circles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    explained = []
    for circle in circles:
        sub = graph.subgraph(circle)
        cycle = nx.find_cycle(sub)
        explained.append(" ; ".join(_where(graph, a, b) for a, b in cycle))
    assert not circles, "import circles:\n" + "\n".join(explained)


@pytest.mark.parametrize("upper", UPPER)
def test_the_core_never_imports_the_layers_above(upper):
    graph = import_graph()
    core = [m for m in graph if not m.startswith((*UPPER, *APPLICATION))]
    upward = [_where(graph, m, t) for m in core for t in graph.successors(m) if t.startswith(upper)]
    assert not upward, "the core imports " + upper + ":\n" + "\n".join(upward)


def test_lower_layers_never_import_the_application():
    graph = import_graph()
    upward = [_where(graph, m, t) for m in graph if not m.startswith(APPLICATION)
              for t in graph.successors(m) if t.startswith(APPLICATION)]
    assert not upward, "\n".join(upward)


MAX_FUNCTION_LINES = 80


def test_no_function_over_80_lines():
    """A function longer than a screen holds several ideas: split it into named steps."""
    long = []
    for module, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "\n".join(long)

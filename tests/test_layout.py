"""The package layout reads as the data flow: no module imports one downstream of it.

    data, snn -> chip -> likelihood -> models -> inference -> twin -> study -> demo -> cli,
    console
    energy.limits -> models.lim_energy -> energy.report, energy.training_run

Every ``import`` and ``from ... import`` of a limprob module is read from the source (those
inside functions too), so a lazy import cannot hide a backward edge.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

LAYERS = [
    ("limprob.errors", "limprob.validation", "limprob.io", "limprob.interruption"),
    ("limprob.streams",),
    ("limprob.data", "limprob.snn", "limprob.energy", "limprob.energy.limits"),
    ("limprob.chip",),
    ("limprob.likelihood",),
    ("limprob.models",),
    ("limprob.inference", "limprob.energy.report", "limprob.energy.training_run"),
    ("limprob.twin",),
    ("limprob.study",),
    ("limprob.demo",),
    ("limprob.cli", "limprob.__main__", "limprob.console"),
]
"""Module prefixes from upstream (0) to downstream; a module may import its own layer or
any layer upstream of it."""


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer(module: str) -> int | None:
    """The layer of ``module``: the one whose longest prefix matches it."""
    best = None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), index)
    return None if best is None else best[1]


def imports() -> dict[str, set[str]]:
    """limprob modules imported by each limprob module."""
    graph = {}
    for path in (ROOT / "limprob").rglob("*.py"):
        tree = ast.parse(path.read_text())
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.add(node.module)
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[module_name(path)] = {t for t in targets if t.startswith("limprob")}
    return graph


def known(module: str, graph) -> str | None:
    """``module`` if it is a module of the tree, else its parent (``from pkg import name``)."""
    while module and module not in graph:
        module = module.rpartition(".")[0]
    return module or None


def test_every_module_has_a_layer():
    unplaced = [m for m in imports() if m != "limprob" and layer(m) is None]
    assert unplaced == []


def test_no_module_imports_downstream():
    graph = imports()
    backward = []
    for module, targets in graph.items():
        if module == "limprob":
            continue
        for target in filter(None, (known(t, graph) for t in targets)):
            if target != "limprob" and layer(target) > layer(module):
                backward.append(f"{module} -> {target}")
    assert backward == []


def test_the_import_graph_has_no_cycles():
    graph = imports()
    edges = {m: {known(t, graph) for t in targets} - {None, m} for m, targets in graph.items()}
    # a package's __init__ importing its own submodules is how a package exports: ignore it
    edges = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in edges.items()}
    state = {}

    def visit(node, path):
        if state.get(node) == "done":
            return
        if state.get(node) == "open":
            pytest.fail("import cycle: " + " -> ".join([*path, node]))
        state[node] = "open"
        for target in sorted(edges.get(node, ())):
            visit(target, [*path, node])
        state[node] = "done"

    for module in sorted(edges):
        visit(module, [])


def test_a_backward_import_would_be_caught():
    assert layer("limprob.chip.kernels") < layer("limprob.inference.training")
    assert layer("limprob.energy.limits") < layer("limprob.models.lim_energy") \
        < layer("limprob.energy.report")

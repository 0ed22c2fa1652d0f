"""The package layout reads as the data flow: no module imports one downstream of it, and each
folder of the package sits in one layer.

    data, snn, trace -> chip -> likelihood -> models -> inference, energy -> twin -> study
    -> demo -> cli, console
    energy_limits -> models.lim_energy -> energy.report, energy.training_run

The scripts in ``analyses/`` and ``benchmarks/`` compose library calls as the command line
does: they may import any library module, but nothing from ``limprob.cli`` except the command
line itself (``limprob.cli.main``), so no library code hides in the CLI.

Every ``import`` and ``from ... import`` of a limprob module is read from the source (those
inside functions too), so a lazy import cannot hide a backward edge.
"""

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

LAYERS = [
    ("limprob.errors", "limprob.validation", "limprob.io", "limprob.interruption"),
    ("limprob.streams",),
    ("limprob.data", "limprob.snn", "limprob.trace", "limprob.energy_limits"),
    ("limprob.chip",),
    ("limprob.likelihood",),
    ("limprob.models",),
    ("limprob.inference", "limprob.energy"),
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


def imported(path: Path) -> set[str]:
    """The limprob names the file ``path`` imports: each module, and each ``module.name`` of a
    ``from module import name``."""
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets.add(node.module)
            targets.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
    return {t for t in targets if t == "limprob" or t.startswith("limprob.")}


def imports() -> dict[str, set[str]]:
    """limprob modules imported by each limprob module."""
    return {module_name(path): imported(path) for path in (ROOT / "limprob").rglob("*.py")}


def known(module: str, graph) -> str | None:
    """``module`` if it is a module of the tree, else its parent (``from pkg import name``)."""
    while module and module not in graph:
        module = module.rpartition(".")[0]
    return module or None


SCRIPT_FOLDERS = ("analyses", "benchmarks")
"""Folders of scripts that compose library calls."""
COMMAND_LINE = {"limprob.cli", "limprob.cli.main"}
"""What a script may import of ``limprob.cli``: the command line itself (``from limprob.cli
import main``), to run a command as a user would."""


def cli_imports(path: Path) -> set[str]:
    """What the file ``path`` imports from ``limprob.cli`` beyond :data:`COMMAND_LINE`."""
    return {
        t
        for t in imported(path)
        if (t == "limprob.cli" or t.startswith("limprob.cli.")) and t not in COMMAND_LINE
    }


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
    assert (
        layer("limprob.energy_limits")
        < layer("limprob.models.lim_energy")
        < layer("limprob.energy.report")
    )


def test_analyses_and_benchmarks_import_no_library_code_from_the_cli():
    scripts = [path for folder in SCRIPT_FOLDERS for path in (ROOT / folder).rglob("*.py")]
    assert len(scripts) > 10
    found = {str(path.relative_to(ROOT)): sorted(cli_imports(path)) for path in scripts}
    assert {path: names for path, names in found.items() if names} == {}


def test_an_import_of_library_code_from_the_cli_would_be_caught(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(
        "from limprob.cli import main\nfrom limprob.cli.nir import trace_weights\n"
        "import limprob.cli.options\n"
    )
    assert cli_imports(script) == {
        "limprob.cli.nir",
        "limprob.cli.nir.trace_weights",
        "limprob.cli.options",
    }


def test_analyses_and_benchmarks_import_only_names_that_exist():
    graph = imports()

    def exists(target: str) -> bool:
        if target in graph:
            return True
        module, _, name = target.rpartition(".")
        return module in graph and hasattr(importlib.import_module(module), name)

    unknown = {}
    for folder in SCRIPT_FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            missing = sorted(t for t in imported(path) if not exists(t))
            if missing:
                unknown[str(path.relative_to(ROOT))] = missing
    assert unknown == {}


def test_each_folder_of_the_package_sits_in_one_layer():
    spread = {}
    for module in imports():
        parts = module.split(".")
        if len(parts) > 2 or module == "limprob":
            continue
        if (ROOT / "limprob" / parts[1]).is_dir():
            layers = {layer(m) for m in imports() if m == module or m.startswith(module + ".")}
            if len(layers) > 1:
                spread[module] = sorted(layers)
    assert spread == {}

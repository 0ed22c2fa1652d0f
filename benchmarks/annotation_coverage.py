"""Share of functions in a package whose signatures are fully annotated.

A function is *fully annotated* when every parameter except a method's leading ``self``/``cls``
has an annotation, ``*args``/``**kwargs`` included, and its return type is annotated (an
``__init__`` with at least one annotated parameter counts, as it does for mypy). A function is
*public* when neither its name nor the name of any class or function enclosing it starts with an
underscore; dunder methods (``__init__``, ``__call__``, ...) count as public, and so do the
functions of modules whose names start with an underscore only if the module is ``__init__`` or
``__main__``. Functions nested inside functions are counted as private.

Run from the repository's root (a second or two, no imports of the package)::

    .venv/bin/python benchmarks/annotation_coverage.py [limprob] [--by-folder] [--list]

It prints, for all functions and for the public ones, the share with an annotated return type
and the share that is fully annotated; ``--by-folder`` adds a row per folder, ``--list`` prints
every public function that is not fully annotated.
"""

from __future__ import annotations

import argparse
import ast
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FunctionRecord:
    """One ``def``: where it is, whether it is public, and what it annotates."""

    path: Path
    line: int
    qualname: str
    public: bool
    returns: bool
    full: bool


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _fully_annotated(node: ast.FunctionDef | ast.AsyncFunctionDef, is_method: bool) -> bool:
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    decorators = {getattr(d, "id", getattr(d, "attr", None)) for d in node.decorator_list}
    if is_method and positional and "staticmethod" not in decorators:
        positional = positional[1:]
    params = [*positional, *args.kwonlyargs]
    params += [a for a in (args.vararg, args.kwarg) if a is not None]
    if any(p.annotation is None for p in params):
        return False
    if node.returns is not None:
        return True
    return node.name == "__init__" and bool(params)


def _walk(tree: ast.AST, path: Path, module_private: bool) -> list[FunctionRecord]:
    records: list[FunctionRecord] = []

    def visit(node: ast.AST, scope: list[str], private: bool, in_class: bool, in_def: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, [*scope, child.name], private or _is_private(child.name), True, in_def)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                is_private = private or in_def or _is_private(child.name)
                records.append(
                    FunctionRecord(
                        path=path,
                        line=child.lineno,
                        qualname=".".join([*scope, child.name]),
                        public=not is_private,
                        returns=child.returns is not None,
                        full=_fully_annotated(child, in_class and not in_def),
                    )
                )
                visit(child, [*scope, child.name], is_private, False, True)
            else:
                visit(child, scope, private, in_class, in_def)

    visit(tree, [], module_private, False, False)
    return records


def collect(package: Path) -> list[FunctionRecord]:
    """Every ``def`` under ``package``, in file order."""
    records: list[FunctionRecord] = []
    for path in sorted(package.rglob("*.py")):
        module_private = any(
            _is_private(part) and part not in ("__init__", "__main__")
            for part in path.relative_to(package.parent).with_suffix("").parts
        )
        records += _walk(ast.parse(path.read_text(), str(path)), path, module_private)
    return records


def _share(part: int, whole: int) -> str:
    return f"{part:5d}/{whole:<5d} {100 * part / whole if whole else 100:5.1f} %"


def _row(label: str, records: list[FunctionRecord]) -> str:
    public = [r for r in records if r.public]
    return (
        f"{label:42s} all: returns {_share(sum(r.returns for r in records), len(records))}"
        f"  full {_share(sum(r.full for r in records), len(records))}"
        f" | public: returns {_share(sum(r.returns for r in public), len(public))}"
        f"  full {_share(sum(r.full for r in public), len(public))}"
    )


def main() -> None:
    """Print the annotation shares of the package named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", nargs="?", default="limprob")
    parser.add_argument("--by-folder", action="store_true")
    parser.add_argument("--list", action="store_true")
    options = parser.parse_args()
    package = Path(options.package)
    records = collect(package)
    if options.by_folder:
        folders = sorted({r.path.parent for r in records})
        for folder in folders:
            print(_row(str(folder), [r for r in records if r.path.parent == folder]))
    print(_row(f"{package} (total)", records))
    if options.list:
        for r in records:
            if r.public and not r.full:
                print(f"{r.path}:{r.line}: {r.qualname}")


if __name__ == "__main__":
    main()

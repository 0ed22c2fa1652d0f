"""List limprob's public names without a docstring, and modules no API reference page shows.

A name is public when no component of its dotted path starts with an underscore and, for a
class or function of a module that defines ``__all__``, when ``__all__`` lists it. The check
covers modules, classes, functions, methods and properties (not constants: their docstrings
are optional), read from the source by griffe, as mkdocstrings reads them. A public module must
also appear in a ``::: name`` line of ``docs/reference/*.md``, so the API reference shows it.

Run from the repository root (``make docs`` does, before building the site)::

    .venv/bin/python docs/check_docstrings.py

Exit status 0 when nothing is missing, 1 otherwise (each missing name on one line).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import griffe

sys.path.insert(0, str(Path(__file__).resolve().parent))
from griffe_limprob import LimprobDocs

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "limprob"
REFERENCE = ROOT / "docs" / "reference"
DIRECTIVE = re.compile(r"^:::\s+(\S+)", re.MULTILINE)


def is_public(obj: griffe.Object) -> bool:
    """Whether ``obj`` is part of the public API (module docstring)."""
    if any(part.startswith("_") for part in obj.path.split(".")):
        return False
    parent = obj.parent
    if (
        isinstance(parent, griffe.Module)
        and parent.exports is not None
        and not isinstance(obj, griffe.Module)
    ):
        return obj.name in {str(name) for name in parent.exports}
    return True


def public_objects(module: griffe.Module) -> Iterator[griffe.Object]:
    """``module``, and the public modules, classes, functions and methods defined in it,
    depth first in source order."""
    yield module
    for member in module.members.values():
        if member.is_alias or not is_public(member):
            continue
        if isinstance(member, griffe.Module):
            yield from public_objects(member)
        elif isinstance(member, griffe.Class):
            yield from public_class_members(member)
        elif isinstance(member, griffe.Function):
            yield member


def public_class_members(cls: griffe.Class) -> Iterator[griffe.Object]:
    """``cls`` and its public methods, properties and nested classes."""
    yield cls
    for member in cls.members.values():
        if member.is_alias or member.name.startswith("_"):
            continue
        if isinstance(member, griffe.Class):
            yield from public_class_members(member)
        elif isinstance(member, griffe.Function) or "property" in member.labels:
            yield member


def undocumented(package: griffe.Module) -> list[str]:
    """``file:line: kind path`` of each public object without a docstring."""
    missing = []
    for obj in public_objects(package):
        if obj.docstring is None or not obj.docstring.value.strip():
            where = Path(obj.filepath).relative_to(ROOT) if obj.filepath else "?"
            missing.append(
                f"{where}:{obj.lineno or 1}: {obj.kind.value} {obj.path} has no docstring"
            )
    return missing


def unreferenced(package: griffe.Module) -> list[str]:
    """Public modules that no ``::: name`` line of the reference pages shows."""
    shown = {
        name
        for page in sorted(REFERENCE.glob("*.md"))
        for name in DIRECTIVE.findall(page.read_text())
    }
    return [
        f"module {obj.path} is on no page of docs/reference/: add '::: {obj.path}'"
        for obj in public_objects(package)
        if isinstance(obj, griffe.Module) and obj.path not in shown
    ]


def main() -> int:
    """Print every problem found; 1 if there is any."""
    package = griffe.load(
        PACKAGE, search_paths=[ROOT], extensions=griffe.load_extensions(LimprobDocs)
    )
    problems = undocumented(package) + unreferenced(package)
    for line in problems:
        print(line)
    if problems:
        print(
            f"{len(problems)} problem(s): every public name of {PACKAGE} needs a docstring "
            "and every public module a line in docs/reference/",
            file=sys.stderr,
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

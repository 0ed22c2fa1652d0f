"""A griffe extension that lets mkdocstrings and ``docs/check_docstrings.py`` read limprob.

limprob's docstrings use Sphinx roles (``:func:`x```, ``:math:`x```), the ``.. math::``
directive and a few numpydoc sections; Markdown has none of them, so roles become code spans,
each math block a fenced code block and each section a bold title over a list.

Used by ``mkdocs.yml`` (``extensions``) and by ``docs/check_docstrings.py``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(
    r":(?:py:)?(?:func|meth|class|mod|data|attr|obj|exc|const|math|ref|term)"
    r":`~?([^`]+)`"
)
MATH = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<first>.*)$")


SECTION_RULE = re.compile(r"^[ \t]*-{3,}[ \t]*$")


def markdown_of_sections(text: str) -> str:
    """``text`` with each numpydoc-like section (a title underlined with dashes, then entries
    ``name : description`` with indented continuation lines, up to a blank line) written as a
    bold title and a Markdown list; Markdown would otherwise read the underline as a heading.
    """
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        if i + 1 < len(lines) and lines[i].strip() and SECTION_RULE.match(lines[i + 1]):
            indent = len(lines[i]) - len(lines[i].lstrip())
            out += [f"{' ' * indent}**{lines[i].strip()}**", ""]
            i += 2
            while i < len(lines) and lines[i].strip():
                line = lines[i]
                if len(line) - len(line.lstrip()) > indent and out[-1].strip():
                    out[-1] += " " + line.strip()
                else:
                    name, _, description = line.strip().partition(" : ")
                    out.append(
                        f"{' ' * indent}- `{name.strip()}`"
                        + (f": {description.strip()}" if description else ":")
                    )
                i += 1
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)


CODE_SPAN = re.compile(r"(`+[^`]*`+)")


def escape_stars(text: str) -> str:
    """``text`` with ``W*`` (the point estimate's name) written ``W\\*`` outside code, so that
    two of them in one paragraph do not turn the text between them into emphasis."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("    "):  # an indented code block stays as it is
            line = "".join(
                part if part.startswith("`") else part.replace("W*", "W\\*")
                for part in CODE_SPAN.split(line)
            )
        lines.append(line)
    return "\n".join(lines)


def markdown_of_roles(text: str) -> str:
    """``text`` with every Sphinx role written as a code span of its target (the last
    component where the target starts with ``~``, as Sphinx shows it) and every
    ``.. math::`` block fenced."""

    def role(match: re.Match) -> str:
        target = match.group(1)
        shown = (
            target.rsplit(".", 1)[-1] if match.group(0).split("`", 1)[1].startswith("~") else target
        )
        return f"`{shown}`"

    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        found = MATH.match(lines[i])
        if not found:
            out.append(lines[i])
            i += 1
            continue
        indent = found["indent"]
        body = [found["first"]] if found["first"].strip() else []
        i += 1
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > len(indent)
        ):
            body.append(lines[i].strip())
            i += 1
        out += [
            "",
            f"{indent}```",
            *(f"{indent}{line}" for line in body if line),
            f"{indent}```",
            "",
        ]
    return ROLE.sub(role, "\n".join(out))


class LimprobDocs(griffe.Extension):
    """Rewrite Sphinx markup in every docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite the docstring of each object as it is loaded."""
        if obj.docstring is not None:
            obj.docstring.value = escape_stars(
                markdown_of_sections(markdown_of_roles(obj.docstring.value))
            )

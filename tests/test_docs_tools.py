"""The docs build's own tools: the griffe extension that turns limprob's Sphinx-flavoured
docstrings into Markdown, and the check that fails on an undocumented public name."""

import sys
from pathlib import Path

import pytest

griffe = pytest.importorskip("griffe", reason="the docs extra is not installed")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs"))
import check_docstrings  # noqa: E402
from griffe_limprob import escape_stars, markdown_of_roles, markdown_of_sections  # noqa: E402


def test_sphinx_roles_become_code_spans_and_math_blocks_fences():
    assert markdown_of_roles("see :func:`~limprob.io.save_trace` and :mod:`limprob.chip`") == (
        "see `save_trace` and `limprob.chip`"
    )
    assert markdown_of_roles(":math:`H!` relabellings") == "`H!` relabellings"
    text = "for any P,\n\n.. math::  f(x; W P) = f(x; W),\n\nso the posterior"
    assert markdown_of_roles(text).splitlines() == [
        "for any P,",
        "",
        "",
        "```",
        "f(x; W P) = f(x; W),",
        "```",
        "",
        "so the posterior",
    ]


def test_numpydoc_sections_become_a_bold_title_over_a_list():
    text = (
        "Summary.\n\nParameters\n----------\nn_inputs : width of the input layer,\n"
        "    in neurons.\nvar_name\n    Observed variable.\n\nStats: accept."
    )
    assert markdown_of_sections(text).splitlines() == [
        "Summary.",
        "",
        "**Parameters**",
        "",
        "- `n_inputs`: width of the input layer, in neurons.",
        "- `var_name`: Observed variable.",
        "",
        "Stats: accept.",
    ]


def test_w_star_is_escaped_outside_code_only():
    assert escape_stars("W* and ``W*``") == "W\\* and ``W*``"
    assert escape_stars("    table  W*") == "    table  W*"  # an indented code block


def test_the_check_lists_public_names_without_a_docstring(tmp_path, monkeypatch):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text('"""A package."""\n')
    (package / "mod.py").write_text(
        '"""A module."""\n\n'
        'def documented():\n    """Does a thing."""\n\n'
        "def bare():\n    pass\n\n"
        "def _private():\n    pass\n\n"
        'class Thing:\n    """A thing."""\n\n'
        "    def method(self):\n        pass\n\n"
        "    def _helper(self):\n        pass\n"
    )
    (package / "_internal.py").write_text("def hidden():\n    pass\n")
    monkeypatch.setattr(check_docstrings, "ROOT", tmp_path)
    loaded = griffe.load("pkg", search_paths=[tmp_path])
    missing = check_docstrings.undocumented(loaded)
    assert [line.split(": ", 1)[1] for line in missing] == [
        "function pkg.mod.bare has no docstring",
        "function pkg.mod.Thing.method has no docstring",
    ]


def test_limprob_has_no_undocumented_public_name_and_no_module_missing_from_the_reference():
    package = griffe.load(
        "limprob",
        search_paths=[check_docstrings.ROOT],
        extensions=griffe.load_extensions(check_docstrings.LimprobDocs),
    )
    assert "models" in package.members  # models/ is attached as limprob.models
    assert check_docstrings.undocumented(package) == []
    assert check_docstrings.unreferenced(package) == []

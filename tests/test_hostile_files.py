"""Hostile files: no command writes over its own input, and every file limprob reads is
checked before it is trusted (one line, exit code 2, inputs left byte for byte as they were)."""

import os

import pytest

from limprob.cli import main

INPUT = b"label,a\n0,1\n1,2\n0,3\n1,4\n0,5\n1,6\n"
"""The bytes of every input in the same-path tests (a small valid CSV): the command is refused
before it reads them, and they must be unchanged afterwards."""

WRITERS = {
    "train --data": lambda i, o: ["train", "--data", i, "--out", o],
    "train --screen": lambda i, o: ["train", "--screen", i, "--sampler", "pcn", "--out", o],
    "train --checkpoint": lambda i, o: ["train", "--data", i, "--checkpoint", o,
                                        "--out", o + ".nc"],
    "energy --out": lambda i, o: ["energy", i, "--out", o],
    "compare --plot": lambda i, o: ["compare", i + ".other", i, "--plot", o],
    "plot --out": lambda i, o: ["plot", i, "--out", o],
    "export --nir": lambda i, o: ["export", i, "--nir", o],
    "probe --data": lambda i, o: ["probe", "--data", i, "--out", o],
    "twin --out": lambda i, o: ["twin", i, "--out", o],
}
"""Every command that writes a file, with one of its inputs ``i`` and its output ``o``
(``study`` writes but reads no file of the user's)."""


def refused(args, capsys):
    """The one line of a refusal (exit code 2, nothing on stdout)."""
    assert main(args) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("limprob"), captured.err
    assert captured.out == ""
    return lines[0]


@pytest.mark.parametrize("how", ["same", "symlink", "relative", "hardlink"])
@pytest.mark.parametrize("writer", WRITERS)
def test_no_command_writes_over_its_input(writer, how, tmp_path, monkeypatch, capsys):
    source = tmp_path / "input.csv"
    source.write_bytes(INPUT)
    (tmp_path / "input.csv.other").write_bytes(INPUT)
    output = str(source)
    if how == "symlink":
        (tmp_path / "link.csv").symlink_to(source)
        output = str(tmp_path / "link.csv")
    elif how == "relative":
        (tmp_path / "sub").mkdir()
        monkeypatch.chdir(tmp_path / "sub")
        output = os.path.join("..", "sub", "..", "input.csv")
    elif how == "hardlink":
        os.link(source, tmp_path / "hard.csv")
        output = str(tmp_path / "hard.csv")
    before = sorted(p.name for p in tmp_path.iterdir())
    line = refused(WRITERS[writer](str(source), output), capsys)
    assert "would destroy the input" in line
    assert source.read_bytes() == INPUT
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_two_outputs_of_one_command_must_differ(tmp_path, capsys):
    out = str(tmp_path / "run")
    line = refused(["train", "--out", out, "--checkpoint", out], capsys)
    assert "name the same path" in line
    assert list(tmp_path.iterdir()) == []

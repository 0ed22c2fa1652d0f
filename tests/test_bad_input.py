"""Bad input is refused before any work: one line on stderr, exit code 2, no output file, and an
existing output file left byte for byte as it was."""

import os

import numpy as np
import pytest

from limprob.chip import SimulatedChip
from limprob.cli import main
from limprob.errors import LimprobError
from limprob.study import Grid

HUGE = "99999999999999999999999"


def cases(out):
    return [
        (["train", "--strength", "11", "--out", out], "strength must be at most 10"),
        (["train", "--strength", "nan", "--out", out], "strength must be"),
        (["train", "--chip-seed", HUGE, "--out", out], "chip seed must be at most"),
        (["train", "--seed", "-1", "--out", out], "seed must be a non-negative integer"),
        (["train", "--seed", str(2**32), "--out", out], "seed must be at most"),
        (["train", "--draws", "0", "--out", out], "draws must be a positive integer"),
        (["train", "--sampler", "nope", "--out", out], "invalid choice"),
        (["train", "--dataset", "wine", "--data", "x.csv", "--out", out], "not allowed with"),
        (["train", "--dataset", "nope", "--out", out], "invalid choice"),
        (["train", "--screen", "ideal", "--sampler", "slice", "--out", out], "a screen works"),
        (["probe", "--seed", HUGE, "--out", out], "seed must be at most"),
        (["probe", "--strength", "1e300", "--out", out], "strength must be at most 10"),
        (["energy", "--params", "1e15", "--tokens", "3e11", "--seed", "-3"],
         "seed must be a non-negative integer"),
        (["study", "--seeds", "-1", "--out", out], "seed must be a non-negative integer"),
        (["study", "--strengths", "20", "--out", out], "strength must be at most 10"),
    ]


@pytest.mark.parametrize("index", range(len(cases("x"))))
def test_bad_cli_input_is_one_line_exit_2_and_leaves_files_alone(index, tmp_path, capsys):
    existing = tmp_path / "existing.nc"
    existing.write_bytes(b"an earlier result")
    args, message = cases(str(existing))[index]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert existing.read_bytes() == b"an earlier result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.nc"]


def test_an_output_folder_that_cannot_be_written_is_refused_before_training(capsys):
    assert main(["train", "--out", "/proc/x.nc"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot write in /proc" in err


def test_a_read_only_folder_is_refused(tmp_path, capsys):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("this user can write to a read-only folder (root)")
        assert main(["probe", "--out", str(folder / "probes.nc")]) == 2
        assert "cannot write in" in capsys.readouterr().err
    finally:
        folder.chmod(0o700)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("which", [0, 1, 2])
def test_a_query_with_non_finite_values_is_refused(bad, which):
    chip = SimulatedChip(3, 2, strength=1.0, seed=0)
    arrays = [np.ones((3, 16)), np.ones((16, 2)), np.ones((4, 3))]
    arrays[which][0, 0] = bad
    with pytest.raises(LimprobError, match="NaN or infinite"):
        chip.run(*arrays)
    assert chip.queries == 0


def test_api_sizes_and_seeds_are_checked():
    with pytest.raises(LimprobError, match="chip inputs must be a positive integer"):
        SimulatedChip(n_inputs=2.5)
    with pytest.raises(LimprobError, match="seed must be a non-negative integer"):
        Grid(seeds=(1.5,))
    with pytest.raises(LimprobError, match="chip seed must be at most"):
        SimulatedChip(seed=2**40)

"""The command line: bad input gets one line and exit 2 with no file; a tiny run end to end."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY
from limprob.cli import main
from limprob.data import load_wisconsin

TINY_ARGS = [
    "--init",
    "prior",
    "--hidden",
    str(TINY.network.n_hidden),
    "--time-steps",
    str(TINY.network.n_steps),
    "--draws",
    str(TINY.mcmc.draws),
    "--tune",
    str(TINY.mcmc.tune),
    "--chains",
    str(TINY.mcmc.chains),
    "--train-fraction",
    str(TINY.evaluation.train_fraction),
    "--no-progress",
]


def write_csv(path, features, labels, header=None):
    header = header or [f"f{i}" for i in range(features.shape[1])]
    lines = [",".join(header + ["label"])]
    lines += [
        ",".join([*(repr(float(v)) for v in row), str(label)])
        for row, label in zip(features, labels)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def wisconsin_arrays():
    table = load_wisconsin()
    return table["features"].values, table["labels"].values


def bad_data_files(tmp_path, features, labels):
    with_nan = features.copy()
    with_nan[5, 3] = np.nan
    with_inf = features.copy()
    with_inf[7, 0] = np.inf
    short_row = write_csv(tmp_path / "short.csv", features, labels)
    lines = short_row.read_text().splitlines()
    lines[4] = ",".join(lines[4].split(",")[1:])  # one feature missing on line 5
    short_row.write_text("\n".join(lines) + "\n")
    bad_labels = labels.copy()
    bad_labels[2] = 7
    return {
        "NaN": write_csv(tmp_path / "nan.csv", with_nan, labels),
        "inf": write_csv(tmp_path / "inf.csv", with_inf, labels),
        "features, expected": short_row,
        "outside the classes": write_csv(tmp_path / "labels.csv", features, bad_labels),
    }


def run_cli(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_refused(argv, capsys, message, out_dir):
    before = sorted(p.name for p in out_dir.iterdir())
    code, out, err = run_cli(argv, capsys)
    lines = err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("limprob") and message in lines[0], err
    assert "Traceback" not in err
    assert sorted(p.name for p in out_dir.iterdir()) == before  # nothing written


def test_bad_data_files_are_refused(tmp_path, capsys, wisconsin_arrays):
    out = tmp_path / "run.nc"
    for message, path in bad_data_files(tmp_path, *wisconsin_arrays).items():
        assert_refused(
            ["train", "--data", str(path), "--out", str(out), *TINY_ARGS], capsys, message, tmp_path
        )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--train-fraction", "0"], "training fraction"),
        (["--train-fraction", "1.5"], "training fraction"),
        (["--strength", "-1"], "strength"),
        (["--hidden", "0"], "hidden"),
        (["--steps", "-3"], "time steps"),
        (["--draws", "0"], "draws"),
        (["--chains", "0"], "chains"),
        (["--hidden", "many"], "invalid int"),
    ],
)
def test_bad_arguments_are_refused(tmp_path, capsys, argv, message):
    assert_refused(["train", "--out", str(tmp_path / "run.nc"), *argv], capsys, message, tmp_path)


def test_missing_output_folder_is_refused(tmp_path, capsys):
    assert_refused(
        ["train", "--out", str(tmp_path / "nowhere" / "run.nc")], capsys, "does not exist", tmp_path
    )


def test_evaluate_refuses_a_file_that_is_not_a_trace(tmp_path, capsys):
    (tmp_path / "notes.nc").write_text("hello")
    assert_refused(["evaluate", str(tmp_path / "notes.nc")], capsys, "not a NetCDF", tmp_path)
    assert_refused(["summary", str(tmp_path / "absent.nc")], capsys, "no such file", tmp_path)


def test_energy_refuses_bad_numbers(tmp_path, capsys):
    for argv, message in [
        (["--params", "0", "--tokens", "1e9"], "params"),
        (["--params", "1e9", "--tokens", "nan"], "tokens"),
        (["--params", "1e9", "--tokens", "1e9", "--bits", "-8"], "bits"),
        (["--params", "1e9"], "give --params and --tokens"),
    ]:
        assert_refused(["energy", *argv], capsys, message, tmp_path)


def test_energy_refuses_a_bad_ops_per_flop_and_one_given_with_a_trace(tmp_path, capsys):
    scenario = ["energy", "--params", "1e9", "--tokens", "1e9"]
    for value, message in [
        ("nan", "--ops-per-flop must be finite"),
        ("inf", "--ops-per-flop must be finite"),
        ("0", "--ops-per-flop must be greater than zero"),
        ("-2", "--ops-per-flop must be greater than zero"),
        ("many", "invalid float value"),
    ]:
        assert_refused([*scenario, "--ops-per-flop", value, "--json"], capsys, message, tmp_path)
    assert_refused(
        [
            "energy",
            str(tmp_path / "run.nc"),
            "--ops-per-flop",
            "2",
            "--out",
            str(tmp_path / "e.nc"),
        ],
        capsys,
        "a trace's updates are counted",
        tmp_path,
    )


def test_energy_json_records_ops_per_flop_and_scales_the_update_terms(capsys):
    argv = ["energy", "--params", "1e12", "--tokens", "1e11", "--json"]
    code, stdout, _ = run_cli(argv, capsys)
    default = json.loads(stdout)
    assert code == 0 and default["ops_per_flop"] == 1.0
    code, stdout, _ = run_cli([*argv, "--ops-per-flop", "4"], capsys)
    scaled = json.loads(stdout)
    assert code == 0 and scaled["ops_per_flop"] == 4.0
    assert scaled["landauer_joules"]["median"] == pytest.approx(
        4 * default["landauer_joules"]["median"], rel=1e-12
    )
    assert scaled["accelerator_joules"] == default["accelerator_joules"]
    code, stdout, _ = run_cli(argv[:-1] + ["--ops-per-flop", "0.5"], capsys)
    assert code == 0 and "OPS = 0.5 x C" in stdout


def test_train_evaluate_summary_energy_on_a_tiny_run(tmp_path, capsys, data):
    out = tmp_path / "run.nc"
    code, stdout, _ = run_cli(["train", "--strength", "1", "--out", str(out), *TINY_ARGS], capsys)
    assert code == 0 and out.is_file() and "test accuracy" in stdout

    code, stdout, _ = run_cli(["evaluate", str(out), "--json"], capsys)
    report = json.loads(stdout)
    assert code == 0
    expected = {"test_accuracy_posterior_mean", "test_accuracy_predictive", "chip_queries"}
    assert expected <= set(report)
    assert report["chip_queries"] == TINY.mcmc.chains * (TINY.mcmc.draws + TINY.mcmc.tune + 1)
    assert 0.6 < report["test_accuracy_predictive"] <= 1.0  # better than a majority guess

    code, stdout, _ = run_cli(["summary", str(out), "--var-names", "W_out"], capsys)
    assert code == 0 and "r_hat" in stdout and "W_out[0, malignant]" in stdout

    code, stdout, _ = run_cli(
        ["energy", str(out), "--json", "--out", str(tmp_path / "e.nc")], capsys
    )
    energies = json.loads(stdout)
    assert code == 0
    writes = report["chip_queries"] * (30 * TINY.network.n_hidden + TINY.network.n_hidden * 2)
    assert energies["weight_writes"] == writes
    assert energies["digital_training_flops"] == 0  # MH trains no software model
    assert energies["total_lim_joules"] == energies["lim_joules"]
    assert (
        energies["landauer_joules"]["median"]
        < energies["lim_joules"]["median"]
        < energies["static_joules"]["median"]
    )


def test_console_script_exits_2_on_bad_input(tmp_path):
    script = Path(sys.executable).parent / "limprob"
    result = subprocess.run(
        [str(script), "train", "--strength", "-2", "--out", str(tmp_path / "x.nc")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    expected = "limprob: error: strength must be a finite number >= 0, got -2.0"
    assert result.stderr.strip() == expected
    assert not (tmp_path / "x.nc").exists()


HEAVY = (
    "pymc",
    "pytensor",
    "arviz",
    "arviz_base",
    "arviz_stats",
    "sklearn",
    "dask",
    "distributed",
    "numba",
    "xarray",
    "matplotlib",
)
"""Libraries the top-level help and version must not import (they take seconds)."""


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_top_level_help_and_version_import_no_numerical_library(flag):
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "limprob", flag], capture_output=True, text=True
    )
    assert result.returncode == 0
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "limprob.cli" in imported
    assert sorted(m for m in imported if m.split(".")[0] in HEAVY) == []
    if flag == "--version":
        from importlib.metadata import version

        assert result.stdout.strip() == f"limprob {version('limprob')}"
    else:
        assert result.stdout.startswith("usage: limprob")
        assert all(f"\n    {name}" in result.stdout for name in ("train", "energy", "twin"))


def test_every_subcommand_has_a_description_an_example_and_its_defaults():
    import argparse

    from limprob.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        text = sub.format_help()
        assert sub.description, name
        assert "Example" in sub.epilog and f"limprob {name}" in sub.epilog, name
        options = [
            a
            for a in sub._actions
            if a.option_strings and a.default not in (None, False, argparse.SUPPRESS)
        ]
        for action in options:  # every option with a default says what it is
            assert "default" in (action.help or ""), (name, action.option_strings)
        assert "usage: limprob " + name in text


@pytest.mark.parametrize(
    "command, dest",
    [
        (["train"], "network_n_steps"),
        (["study", "--out", "s.nc"], "network_n_steps"),
        (["evaluate"], "steps"),
        (["probe", "--out", "p.nc"], "n_steps"),
        (["chip", "serve", "--port", "0", "--token-file", "t"], "time_steps"),
    ],
)
def test_time_steps_is_spelled_time_steps_and_the_old_steps_still_works(command, dest):
    from limprob.cli import build_parser

    new = build_parser().parse_args([*command, "--time-steps", "12"])
    old = build_parser().parse_args([*command, "--steps", "12"])
    assert getattr(new, dest) == getattr(old, dest) == 12

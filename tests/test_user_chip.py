"""A user's chip: by ``module:factory`` or an installed package's entry point, in ``train()``
and ``limprob train --chip``; bad specs are refused in one line before any work."""

import json
from dataclasses import replace

import numpy as np
import pytest

import user_chips
from conftest import SMALL_RUN_ARGS
from limprob.chip import SimulatedChip, load_chip
from limprob.chip.plugins import ENTRY_POINT_GROUP
from limprob.chip.settings import ChipSettings
from limprob.cli import main
from limprob.data import load_table
from limprob.errors import LimprobError
from limprob.inference import EvaluationSettings, MCMCSettings, TrainConfig
from limprob.inference.training import train
from limprob.snn import Network

NET = Network(4, 8)
SIZES = dict(n_inputs=30, n_outputs=2, network=NET)
TINY = [
    *SMALL_RUN_ARGS,
    "--draws",
    "20",
    "--tune",
    "10",
    "--chains",
    "1",
    "--predictive-draws",
    "5",
]


def test_a_factory_builds_the_chip_of_the_asked_sizes():
    chip = load_chip("user_chips:small_chip", **SIZES)
    assert isinstance(chip, SimulatedChip)
    assert (chip.n_inputs, chip.n_outputs, chip.network, chip.strength) == (30, 2, NET, 1.0)


BAD_SPECS = {
    "no_such_driver:make": "no module named 'no_such_driver'",
    "user_chips:missing": "user_chips has no 'missing'",
    "user_chips:NOT_CALLABLE": "int is not callable",
    "user_chips:not_a_chip": "(dict) is not a limprob chip: it has no network, n_inputs",
    "user_chips:wrong_inputs": "the factory's chip has 31 inputs, but 30 were asked for",
    "no-such-registered-chip": "nor a name registered in the entry-point group limprob.chips",
    "user_chips:": "give module:factory",
}


@pytest.mark.parametrize("spec", BAD_SPECS)
def test_a_bad_chip_spec_is_refused_in_one_line(spec):
    with pytest.raises(LimprobError) as raised:
        load_chip(spec, **SIZES)
    assert BAD_SPECS[spec] in str(raised.value) and "\n" not in str(raised.value)


def test_an_installed_package_registers_its_chip_by_name(tmp_path, monkeypatch):
    """A distribution's metadata on sys.path, as pip installs a driver package, declares the
    entry point; limprob finds it by name through importlib.metadata."""
    info = tmp_path / "mylab_driver-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mylab-driver\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nmylab-bench = user_chips:small_chip\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    chip = load_chip("mylab-bench", **SIZES)
    assert isinstance(chip, SimulatedChip) and chip.n_inputs == 30
    with pytest.raises(LimprobError, match=r"\(mylab-bench\)"):  # the known names are listed
        load_chip("other", **SIZES)


@pytest.fixture(scope="module")
def table():
    return load_table()


CONFIG = TrainConfig(
    network=Network(n_hidden=4, n_steps=8),
    mcmc=MCMCSettings(draws=20, tune=10, chains=1),
    evaluation=EvaluationSettings(predictive_draws=5, train_fraction=0.2),
)


def test_train_on_a_given_chip_is_train_on_the_same_simulated_chip(table):
    """The chip passed in and the simulated chip train() builds are the same chip: the traces
    are equal, and the given chip's trace records its description, not the simulated chip's
    configuration."""
    config = replace(CONFIG, chip=ChipSettings(strength=0.5, seed=3))
    built = train(config, table, progressbar=False)
    chip = SimulatedChip(30, 2, config.network, 0.5, 3)
    given = train(CONFIG, table, chip=chip, progressbar=False)
    np.testing.assert_array_equal(
        given["posterior"]["W_in"].values, built["posterior"]["W_in"].values
    )
    assert given.attrs["training_chip_queries"] == built.attrs["training_chip_queries"]
    assert (given.attrs["chip"], given.attrs["chip_strength"], given.attrs["chip_seed"]) == (
        "SimulatedChip",
        0.5,
        3,
    )
    assert built.attrs["chip_strength"] == 0.5 and "strength" not in built.attrs


def test_train_refuses_a_chip_that_does_not_fit_before_any_query(table):
    chip = SimulatedChip(29, 2, NET)
    with pytest.raises(LimprobError, match="the chip has 29 inputs, but the data"):
        train(CONFIG, table, chip=chip, progressbar=False)
    assert chip.queries == 0
    with pytest.raises(
        LimprobError,
        match=r"the chip given to train\(\) \(NoDescribe\) is not "
        r"a limprob chip: it has no describe",
    ):
        train(CONFIG, table, chip=user_chips.NoDescribe(), progressbar=False)


def test_the_chips_declared_noise_decides_the_estimator(table):
    with pytest.raises(LimprobError, match="repeats and --re-estimate-current need a noisy"):
        train(
            replace(
                CONFIG,
                chip=ChipSettings(noise=0.2),
                mcmc=replace(CONFIG.mcmc, repeats=2),
            ),
            table,
            chip=SimulatedChip(30, 2, NET),
            progressbar=False,
        )


@pytest.mark.parametrize(
    "spec",
    [
        "no_such_driver:make",
        "user_chips:not_a_chip",
        "user_chips:wrong_inputs",
        "user_chips:missing",
    ],
)
def test_the_cli_refuses_a_bad_chip_in_one_line_and_writes_nothing(spec, tmp_path, capsys):
    out = tmp_path / "run.nc"
    assert main(["train", *TINY, "--chip", spec, "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and BAD_SPECS[spec] in lines[0] and "Traceback" not in lines[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "option",
    [["--strength", "0.5"], ["--chip-seed", "2"], ["--noise", "0.1"], ["--weight-bits", "4"]],
)
def test_the_cli_refuses_the_simulated_chips_options_with_a_chip(option, tmp_path, capsys):
    assert (
        main(
            [
                "train",
                *TINY,
                "--chip",
                "user_chips:small_chip",
                *option,
                "--out",
                str(tmp_path / "run.nc"),
            ]
        )
        == 2
    )
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"{option[0]} set(s) the simulated chip" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_the_cli_trains_evaluates_and_exports_a_users_chip(tmp_path, capsys):
    out, net = tmp_path / "run.nc", tmp_path / "net.nir"
    assert main(["train", *TINY, "--chip", "user_chips:small_chip", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["chip"] == "SimulatedChip" and report["chip_seed"] == 3
    assert main(["export", str(out), "--nir", str(net)]) == 0 and net.exists()


def test_the_cli_checks_repeats_against_the_noise_the_users_chip_declares(tmp_path, capsys):
    assert (
        main(
            [
                "train",
                *TINY,
                "--chip",
                "user_chips:small_chip",
                "--repeats",
                "2",
                "--out",
                str(tmp_path / "run.nc"),
            ]
        )
        == 2
    )
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "repeats and --re-estimate-current need a noisy chip" in lines[0]
    assert list(tmp_path.iterdir()) == []

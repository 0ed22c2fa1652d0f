"""``limprob probe`` and ``limprob twin``: datasets and traces end to end, bad input refused."""

import numpy as np
import pytest
import xarray as xr

from conftest import untidy_dims
from limprob.chip.distortion import GLOBALS
from limprob.cli import main

PROBE_ARGS = ["--hidden", "4", "--steps", "16", "--probes", "4", "--obs", "8"]


def load(path) -> xr.Dataset:
    """Read a dataset and close the file (one HDF5 library, no handle left open)."""
    with xr.open_dataset(path, engine="netcdf4") as stored:
        return stored.load()


def load_tree(path) -> xr.DataTree:
    with xr.open_datatree(path, engine="netcdf4") as stored:
        return stored.load()


@pytest.fixture(scope="module")
def probes_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("probes") / "probes.nc"
    assert main(["probe", *PROBE_ARGS, "--chip-seed", "3", "--out", str(path)]) == 0
    return path


def test_probe_writes_a_reproducible_dataset_with_named_dims(probes_file, tmp_path):
    probes = load(probes_file)
    assert probes["counts"].dims == ("probe", "obs", "output")
    assert probes["W_in"].dims == ("probe", "input", "hidden")
    assert probes.sizes["probe"] == 4 and probes.sizes["obs"] == 8 and probes.sizes["hidden"] == 4
    assert probes.attrs["probe_chip_queries"] == 4 and probes.attrs["chip_seed"] == 3
    again = tmp_path / "again.nc"
    assert main(["probe", *PROBE_ARGS, "--chip-seed", "3", "--out", str(again)]) == 0
    np.testing.assert_array_equal(load(again)["counts"].values, probes["counts"].values)
    other = tmp_path / "other.nc"
    assert main(["probe", *PROBE_ARGS, "--chip-seed", "4", "--out", str(other)]) == 0
    assert not np.array_equal(load(other)["counts"].values, probes["counts"].values)


def test_twin_fits_both_kinds_to_a_probe_file(probes_file, tmp_path, capsys):
    out = tmp_path / "twin.nc"
    assert (
        main(
            [
                "twin",
                str(probes_file),
                "--families",
                "saturation,gain",
                "--draws",
                "20",
                "--tune",
                "20",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    tree = load_tree(out)
    assert {"inverse_w_sat", "log_gain"} <= set(tree["posterior"].data_vars)
    assert "probe_counts" in tree["log_likelihood"].data_vars
    assert untidy_dims(tree) == []
    assert tree["sample_stats"]["accepted"].dims == ("chain", "draw", "block")
    assert list(tree["sample_stats"]["block"].values) == [
        "inverse_w_sat",
        "log_gain",
        "count_sigma",
    ]
    assert tree["constant_data"]["probe_x"].dims == ("probe_obs", "feature")
    population = tmp_path / "population.nc"
    assert (
        main(
            [
                "twin",
                str(probes_file),
                "--population",
                "--chips",
                "16",
                "--draws",
                "20",
                "--tune",
                "20",
                "--no-progress",
                "--out",
                str(population),
            ]
        )
        == 0
    )
    tree = load_tree(population)
    assert set(GLOBALS) <= set(tree["posterior"].data_vars)
    assert tree.attrs["model"] == "chip_population"
    assert untidy_dims(tree) == []
    printed = capsys.readouterr().out
    assert "eti94_lb" in printed and "wrote" in printed


def test_smc_twin_keeps_its_per_chain_evidence_apart_from_the_draws(probes_file, tmp_path):
    from limprob.inference.compare import smc_log_marginal_likelihood

    out = tmp_path / "smc.nc"
    assert (
        main(
            [
                "twin",
                str(probes_file),
                "--smc",
                "--families",
                "saturation",
                "--draws",
                "30",
                "--chains",
                "1",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    tree = load_tree(out)
    assert untidy_dims(tree) == [] and "sample_stats" not in tree.children
    assert tree["smc"]["log_marginal_likelihood"].dims == ("chain",)
    assert smc_log_marginal_likelihood(tree) == pytest.approx(tree.attrs["log_marginal_likelihood"])


def test_surrogate_twin_writes_one_fitted_distortion_and_says_how_good_it_is(tmp_path, capsys):
    probes = tmp_path / "probes.nc"
    args = ["--hidden", "4", "--probes", "8", "--obs", "16", "--chip-seed", "1"]
    assert main(["probe", *args, "--out", str(probes)]) == 0
    out = tmp_path / "fit.nc"
    capsys.readouterr()
    assert main(["twin", str(probes), "--surrogate", "--fit-steps", "60", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "of their variance explained; 8 probe queries; wrote" in printed
    tree = load_tree(out)
    assert tree.attrs["model"] == "chip_twin_surrogate" and tree.attrs["steps"] == 60
    assert set(tree["distortion"].data_vars) == {
        "log_gain_in",
        "log_gain_out",
        "log_threshold",
        "log_inverse_w_sat",
        "log_leak",
    }
    assert tree["fit_history"]["check"].values[-1] == 60
    assert tree["fit_history"]["probe_mse"].dims == ("restart", "check")
    assert tree.attrs["probe_mse"] < tree.attrs["identity_probe_mse"]
    assert tree["distortion"]["log_leak"].dims == () and tree.attrs["leak_per_neuron"] == 0
    assert untidy_dims(tree) == []
    per_neuron = tmp_path / "fit_leaks.nc"
    argv = ["twin", str(probes), "--surrogate", "--leak-per-neuron", "--fit-steps", "60"]
    assert main([*argv, "--out", str(per_neuron)]) == 0
    tree = load_tree(per_neuron)
    assert tree["distortion"]["log_leak"].dims == ("neuron",)
    assert tree["restarts"]["log_leak"].dims == ("restart", "neuron")
    assert tree.attrs["leak_per_neuron"] == 1 and untidy_dims(tree) == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["twin", "{probes}", "--families", "bogus"], "unknown distortion family bogus"),
        (["twin", "{probes}", "--population", "--smc"], "cannot be combined"),
        (["twin", "{probes}", "--surrogate", "--smc"], "--surrogate and --smc cannot be"),
        (["twin", "{probes}", "--fit-steps", "5"], "--fit-steps applies to the surrogate"),
        (["twin", "{probes}", "--leak-per-neuron"], "--leak-per-neuron applies to the surrogate"),
        (["twin", "{probes}", "--surrogate", "--draws", "5"], "--draws apply to the sampled"),
        (["twin", "{probes}", "--surrogate", "--families", "gain"], "--families apply to"),
        (["twin", "{probes}", "--surrogate", "--fit-steps", "0"], "steps must be"),
        (["twin", "{probes}", "--population", "--chips", "3"], "n_chips must be at least"),
        (["twin", "{not_probes}"], "not a probe dataset"),
        (["twin", "{missing}"], "no such file"),
        (["probe", "--probes", "0"], "positive integer"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_with_no_file(
    args, message, probes_file, tmp_path, capsys
):
    not_probes = tmp_path / "not_probes.nc"
    xr.Dataset({"y": ("obs", [1, 2])}).to_netcdf(not_probes, engine="netcdf4")
    paths = {"probes": probes_file, "not_probes": not_probes, "missing": tmp_path / "no.nc"}
    out = tmp_path / "out.nc"
    code = main([a.format(**paths) for a in args] + ["--out", str(out)])
    error = capsys.readouterr().err.strip()
    assert code == 2 and message in error and "\n" not in error
    assert not out.exists() and not list(tmp_path.glob(".out.nc.*"))

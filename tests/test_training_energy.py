"""The energy of a training run: what a trace's counts say the chip did, and what it cost."""

import json

import numpy as np
import pytest
import xarray as xr

from limprob.chip import SimulatedChip
from limprob.energy.report import device_draws
from limprob.energy.training_run import (
    digital_training_flops,
    run_scenario,
    training_energy,
)
from limprob.energy_limits import BOUND_NAMES
from limprob.inference.backprop import BackpropConfig, train_backprop
from limprob.snn import Network, flops_per_run

SIZE = {"feature": 3, "hidden": 4, "class": 2, "steps": 8}
N_WEIGHTS = SIZE["feature"] * SIZE["hidden"] + SIZE["hidden"] * SIZE["class"]


def fake_trace(method, queries, epochs=10, n_fit=40, n_validation=10, n_test=5):
    """A trace with only what the energy accounting reads: weights, the network's size, the
    data sizes and the counts of the run."""
    weights = xr.Dataset(
        {
            "W_in": (("feature", "hidden"), np.ones((SIZE["feature"], SIZE["hidden"]))),
            "W_out": (("hidden", "class"), np.ones((SIZE["hidden"], SIZE["class"]))),
        }
    )
    constant = xr.Dataset(
        {
            "x": (("obs", "feature"), np.zeros((n_test, SIZE["feature"]))),
            "y": ("obs", np.zeros(n_test, dtype=np.int64)),
        }
    )
    points = xr.Dataset(
        {
            "probability": (
                ("point_estimate", "obs", "class"),
                np.full((1, n_test, SIZE["class"]), 0.5),
            )
        }
    )
    tree = xr.DataTree.from_dict(
        {"weights": weights, "predictions_constant_data": constant, "point_estimates": points}
    )
    tree.attrs.update(
        {
            "method": method,
            "training_chip_queries": queries,
            "n_train": n_fit + n_validation,
            "n_fit": n_fit,
            "n_validation": n_validation,
            "epochs_run": epochs,
            "network_n_hidden": SIZE["hidden"],
            "network_n_steps": SIZE["steps"],
        }
    )
    return tree


def forward_flops(n_obs):
    return flops_per_run(n_obs, SIZE["feature"], SIZE["hidden"], SIZE["class"], SIZE["steps"])


@pytest.mark.parametrize("method", ["backprop", "noise_aware_backprop"])
def test_a_run_without_training_queries_writes_the_chip_once_at_deployment(method):
    scenario = run_scenario(fake_trace(method, queries=0))
    assert float(scenario["ops"][0]) == N_WEIGHTS
    assert float(scenario["flops"][0]) == forward_flops(50)


def test_mh_writes_every_weight_and_runs_the_training_set_on_every_query():
    scenario = run_scenario(fake_trace("mh", queries=300))
    assert float(scenario["ops"][0]) == 300 * N_WEIGHTS
    assert float(scenario["flops"][0]) == 300 * forward_flops(50)


def test_in_the_loop_chip_flops_are_those_of_the_samples_it_ran_on_the_chip(data):
    """Each in-the-loop query runs one mini-batch or the validation part, not the training set:
    the chip's forward FLOPs are those of the samples the chip actually ran while training."""

    class CountingChip(SimulatedChip):
        samples = 0

        def run(self, w_in, w_out, x):
            self.samples += x.shape[0]
            return super().run(w_in, w_out, x)

    network = Network(n_hidden=4, n_steps=8)
    chip = CountingChip(30, 2, network, strength=1.0, seed=0)
    tree = train_backprop(
        chip, data, BackpropConfig(epochs=3, batch_size=64, patience=100), "in_the_loop_backprop"
    )
    attrs = tree.attrs
    trained = chip.samples - attrs["n_test"] - attrs["n_train"]  # minus the evaluation queries
    assert trained == attrs["epochs_run"] * attrs["n_train"]
    scenario = run_scenario(tree)
    assert float(scenario["flops"][0]) == flops_per_run(trained, 30, 4, 2, 8)
    assert float(scenario["ops"][0]) == attrs["training_chip_queries"] * (30 * 4 + 4 * 2)


def test_backprop_training_flops_are_forward_and_backward_over_every_epoch():
    """C_bp = epochs [(1 + 2) F n_fit + v F n_validation]; v = 0 in the loop (validation is a
    chip query), 1 otherwise; MH trains no software model."""
    per_sample = forward_flops(1)
    assert per_sample == 2 * 3 * 4 + 8 * (5 * 4 + 2 * 4 * 2 + 5 * 2)
    ideal = 10 * (3 * per_sample * 40 + per_sample * 10)
    assert digital_training_flops(fake_trace("backprop", 0)) == ideal
    assert digital_training_flops(fake_trace("noise_aware_backprop", 0)) == ideal
    in_the_loop = fake_trace("in_the_loop_backprop", 130)
    assert digital_training_flops(in_the_loop) == 10 * 3 * per_sample * 40
    assert digital_training_flops(fake_trace("backprop", 0, epochs=20)) == 2 * ideal
    assert digital_training_flops(fake_trace("mh", 300)) == 0.0


def test_totals_add_the_digital_training_at_the_accelerators_energy_per_flop():
    tree = fake_trace("backprop", 0)
    summary = training_energy(tree)
    c_bp, c_fwd = digital_training_flops(tree), float(run_scenario(tree)["flops"][0])
    assert summary.attrs["digital_training_flops"] == c_bp
    e_flop = device_draws(0)["accelerator_j_per_flop"]
    for key in ("median", "low", "high"):
        stat = summary.sel(statistic=key)
        edge = {"median": 0.5, "low": 0.03, "high": 0.97}[key]
        assert float(stat["digital_training_joules"]) == pytest.approx(
            c_bp * float(e_flop.quantile(edge)), rel=1e-12
        )
        assert float(stat["total_accelerator_joules"]) == pytest.approx(
            (c_fwd + c_bp) * float(e_flop.quantile(edge)), rel=1e-12
        )
        for name in BOUND_NAMES:
            assert float(stat[f"total_{name}"]) >= float(stat["digital_training_joules"])
            assert float(stat[f"total_{name}"]) > float(stat[name])
    mh = training_energy(fake_trace("mh", 300))
    assert float(mh["digital_training_joules"].max()) == 0.0
    for name in BOUND_NAMES:
        np.testing.assert_array_equal(mh[f"total_{name}"], mh[name])


def test_energy_of_a_backprop_trace_on_the_command_line(tmp_path, capsys):
    from limprob.cli import main
    from limprob.io import save_trace

    tree = fake_trace("in_the_loop_backprop", 130)
    tree.attrs["limprob_trace"] = 1
    path = save_trace(tree, tmp_path / "bp.nc")
    assert main(["energy", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["digital_training_flops"] == digital_training_flops(tree)
    assert report["weight_writes"] == 130 * N_WEIGHTS
    assert (
        report["total_lim_joules"]["median"]
        > report["digital_training_joules"]["median"]
        > report["lim_joules"]["median"]
    )
    assert main(["energy", str(path)]) == 0
    assert "FLOPs of training on a digital machine" in capsys.readouterr().out

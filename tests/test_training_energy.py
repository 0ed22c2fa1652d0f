"""The energy of a training run: what a trace's counts say the chip did, and what it cost."""

import numpy as np
import pytest
import xarray as xr

from limprob.chip import SimulatedChip
from limprob.energy.training_run import run_scenario
from limprob.inference.backprop import BackpropConfig, train_backprop
from limprob.snn import Network, flops_per_run

SIZE = {"feature": 3, "hidden": 4, "class": 2, "steps": 8}
N_WEIGHTS = SIZE["feature"] * SIZE["hidden"] + SIZE["hidden"] * SIZE["class"]


def fake_trace(method, queries, epochs=10, n_fit=40, n_validation=10, n_test=5):
    """A trace with only what the energy accounting reads: weights, the network's size, the
    data sizes and the counts of the run."""
    weights = xr.Dataset({"W_in": (("feature", "hidden"), np.ones((SIZE["feature"],
                                                                   SIZE["hidden"]))),
                          "W_out": (("hidden", "class"), np.ones((SIZE["hidden"],
                                                                  SIZE["class"])))})
    constant = xr.Dataset({"x": (("obs", "feature"), np.zeros((n_test, SIZE["feature"])))})
    points = xr.Dataset({"probability": (("point_estimate", "obs", "class"),
                                         np.full((1, n_test, SIZE["class"]), 0.5))})
    tree = xr.DataTree.from_dict({"weights": weights, "predictions_constant_data": constant,
                                  "point_estimates": points})
    tree.attrs.update({"method": method, "training_chip_queries": queries,
                       "n_train": n_fit + n_validation, "n_fit": n_fit,
                       "n_validation": n_validation, "epochs_run": epochs,
                       "network_n_hidden": SIZE["hidden"], "network_n_steps": SIZE["steps"]})
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
    tree = train_backprop(chip, data, BackpropConfig(epochs=3, batch_size=64, patience=100),
                          in_the_loop=True)
    attrs = tree.attrs
    trained = chip.samples - attrs["n_test"] - attrs["n_train"]  # minus the evaluation queries
    assert trained == attrs["epochs_run"] * attrs["n_train"]
    scenario = run_scenario(tree)
    assert float(scenario["flops"][0]) == flops_per_run(trained, 30, 4, 2, 8)
    assert float(scenario["ops"][0]) == attrs["training_chip_queries"] * (30 * 4 + 4 * 2)

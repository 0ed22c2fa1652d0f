"""The network's reset: ``zero`` (NIR's reset to v_reset = 0) beside ``subtract``, the same
equations in every form of the LIF update (numpy, numba kernels, the simulated chip, the twin's
Ops, the PyTensor graph of backprop)."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from limprob.chip import SimulatedChip
from limprob.chip.distortion import Distortion, DistortionGlobals, Mismatch
from limprob.chip.kernels import member_counts
from limprob.chip.simulated import simulate
from limprob.errors import LimprobError
from limprob.inference.backprop import lif_graph
from limprob.inference.training import TrainConfig
from limprob.likelihood.simulator import simulated_counts
from limprob.snn import Network, lif_counts, lif_counts_numpy, lif_layer_step
from limprob.trace import network_attrs

NET = Network(6, 20, 0.85, 0.8, "zero")


@pytest.fixture(scope="module")
def case(data):
    rng = np.random.default_rng(11)
    x = data.test["features"].values[:40]
    return x, rng.normal(0.2, 1.5, (30, 6)), rng.normal(0.3, 1.5, (6, 2))


def numpy_counts(x, w_in, w_out, network, reset_zero):
    h = network.n_hidden
    return lif_counts_numpy(
        x,
        w_in,
        w_out,
        np.full(h, network.beta),
        np.full(h, network.theta),
        np.full(2, network.beta),
        np.full(2, network.theta),
        network.n_steps,
        reset_zero,
    )


def test_reset_zero_is_the_potential_set_to_zero_after_a_spike():
    v, s = lif_layer_step(np.array([0.0]), np.array([0.0]), 1.5, 0.5, 1.0, reset_zero=True)
    assert (v[0], s[0]) == (1.5, 1.0)
    v, s = lif_layer_step(v, s, 0.25, 0.5, 1.0, reset_zero=True)  # 0 * 0.5 + 0.25
    assert (v[0], s[0]) == (0.25, 0.0)
    v, s = lif_layer_step(v, s, 0.25, 0.5, 1.0, reset_zero=True)  # 0.125 + 0.25: no reset
    assert (v[0], s[0]) == (0.375, 0.0)
    v, _ = lif_layer_step(np.array([1.5]), np.array([1.0]), 0.25, 0.5, 1.0)  # by subtraction
    assert v[0] == 0.75 + 0.25 - 1.0


def test_every_kernel_runs_the_chosen_reset(case):
    x, w_in, w_out = case
    zero, subtract = (numpy_counts(x, w_in, w_out, NET, flag) for flag in (True, False))
    assert not np.array_equal(zero, subtract) and zero.sum() > 0
    h = NET.n_hidden
    constants = (
        np.full(h, NET.beta),
        np.full(h, NET.theta),
        np.full(2, NET.beta),
        np.full(2, NET.theta),
        NET.n_steps,
    )
    np.testing.assert_array_equal(lif_counts(x, w_in, w_out, *constants, True), zero)
    np.testing.assert_array_equal(lif_counts(x, w_in, w_out, *constants), subtract)
    np.testing.assert_array_equal(SimulatedChip(30, 2, NET, 0.0).run(w_in, w_out, x), zero)
    np.testing.assert_array_equal(simulate(Distortion(), NET, w_in, w_out, x), zero)
    # the twin's Op and the population kernel, at the ideal distortion
    parameters = {
        "inverse_w_sat": 0.0,
        "log_gain": 0.0,
        "log_leak": 0.0,
        "gain_spread": 0.0,
        "threshold_spread": 0.0,
        "leak_spread": 0.0,
        "gain_z_in": np.zeros((30, h)),
        "gain_z_out": np.zeros((h, 2)),
        "threshold_z": np.zeros(h + 2),
        "leak_z": np.zeros(h + 2),
    }
    op_counts = simulated_counts(parameters, NET, w_in[None], w_out[None], x).eval()
    np.testing.assert_array_equal(op_counts[0], zero)
    member = member_counts(
        w_in[None],
        w_out[None],
        x,
        Mismatch(np.zeros((30, h)), np.zeros((h, 2)), np.zeros(h + 2), np.zeros(h + 2)),
        DistortionGlobals(0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
        NET.beta,
        NET.theta,
        NET.n_steps,
        1.0,
        0,
        0.0,
        0,
        0,
        True,
    )
    np.testing.assert_array_equal(member[0], zero)


def test_noisy_chip_with_reset_zero_is_seeded_and_differs_from_subtraction(case):
    x, w_in, w_out = case
    runs = [
        SimulatedChip(30, 2, network, 0.0, seed=3, noise=0.1).run(w_in, w_out, x)
        for network in (NET, NET, Network(6, 20, 0.85, 0.8))
    ]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_the_pytensor_graph_runs_the_chosen_reset(case):
    x, w_in, w_out = case
    xs, wi, wo = pt.dmatrices("x", "w_in", "w_out")
    beta, theta = pt.dscalars("beta", "theta")
    forward = pytensor.function(
        [xs, wi, wo, beta, theta],
        lif_graph(xs, wi, wo, beta, theta, 1.0, NET.n_steps, reset_zero=True),
    )
    np.testing.assert_array_equal(
        forward(x, w_in, w_out, NET.beta, NET.theta), numpy_counts(x, w_in, w_out, NET, True)
    )


def test_a_reset_must_be_one_of_the_two():
    with pytest.raises(LimprobError, match="reset must be one of subtract, zero"):
        Network(reset="hard")
    with pytest.raises(LimprobError, match="reset must be one of"):
        TrainConfig(network=Network(reset="to_zero"))
    assert TrainConfig(network=Network(reset="zero")).network.reset_zero
    assert Network().reset == "subtract" and not Network().reset_zero
    assert network_attrs(Network(reset="zero"))["network_reset"] == "zero"

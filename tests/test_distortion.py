"""The distortion is written once: every form of its equations agrees with the numpy reference.

The forms are the numpy equations (:func:`limprob.chip.distortion.distortion_arrays`), the same
equations compiled by numba (:mod:`limprob.chip.kernels`, used by the population twin), the
PyTensor graph of the twin (:func:`limprob.likelihood.simulator.simulated_counts`), and the
simulated chip's own compiled kernel.
"""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from limprob.chip import Distortion, SimulatedChip, hidden_distortion, simulate
from limprob.chip.distortion import (
    GLOBALS,
    MISMATCH,
    DistortionGlobals,
    Mismatch,
    design_distortion,
    distortion_arrays,
    draw_mismatch,
)
from limprob.chip.kernels import member_counts, neuron_leak, neuron_threshold, synaptic_gain
from limprob.likelihood.simulator import simulated_counts
from limprob.snn import Network

NET = Network(n_hidden=5, n_steps=16)
N_IN, N_OUT = 7, 3


def random_distortion(seed: int) -> dict:
    """Globals spread over their plausible range and one chip's mismatch draws."""
    rng = np.random.default_rng(seed)
    globals_ = dict(
        zip(
            GLOBALS,
            [
                rng.uniform(0, 4),
                rng.normal(0, 0.5),
                rng.normal(0, 0.1),
                rng.uniform(0, 1),
                rng.uniform(0, 0.6),
                rng.uniform(0, 0.3),
            ],
        )
    )
    return {**globals_, **draw_mismatch(rng, N_IN, NET.n_hidden, N_OUT)}


@pytest.mark.parametrize("seed", range(5))
def test_numba_equations_match_numpy(seed):
    p = random_distortion(seed)
    reference = distortion_arrays(p, NET)
    np.testing.assert_allclose(
        synaptic_gain(p["log_gain"], p["gain_spread"], p["gain_z_in"]),
        reference.gain_in,
        rtol=1e-14,
    )
    thresholds = neuron_threshold(NET.theta, p["threshold_spread"], p["threshold_z"])
    np.testing.assert_allclose(thresholds[: NET.n_hidden], reference.theta_hidden, rtol=1e-14)
    leaks = neuron_leak(NET.beta, p["log_leak"], p["leak_spread"], p["leak_z"], 0.99)
    np.testing.assert_allclose(leaks[NET.n_hidden :], reference.beta_output, rtol=1e-14)
    assert leaks.max() <= 0.99


@pytest.mark.parametrize("seed", range(3))
def test_pytensor_graph_matches_numpy(seed):
    p = random_distortion(seed)
    symbols = {name: pt.as_tensor_variable(value).type(name) for name, value in p.items()}
    arrays = distortion_arrays(symbols, NET, xp=pt)
    function = pytensor.function(list(symbols.values()), list(arrays))
    for value, expected in zip(function(*p.values()), distortion_arrays(p, NET)):
        np.testing.assert_allclose(value, expected, rtol=1e-14)


@pytest.mark.parametrize("seed", range(3))
def test_every_counts_path_agrees_on_random_weights(seed):
    """numpy arrays + batched kernel, the numba arrays kernel, and the PyTensor Op: same counts."""
    p = random_distortion(seed)
    rng = np.random.default_rng([seed, 1])
    w_in = rng.normal(0, 1.5, (4, N_IN, NET.n_hidden))
    w_out = rng.normal(0, 1.5, (4, NET.n_hidden, N_OUT))
    x = rng.uniform(0, 1, (9, N_IN))
    distortion = Distortion(**p)
    reference = simulate(distortion, NET, w_in, w_out, x)
    assert reference.sum() > 0  # the comparison means something only if neurons fire
    compiled = member_counts(
        w_in,
        w_out,
        x,
        Mismatch(*(p[n] for n in MISMATCH)),
        DistortionGlobals(*(p[n] for n in GLOBALS)),
        NET.beta,
        NET.theta,
        NET.n_steps,
        1.0,  # no converter (0 bits), no noise
        0,
        0.0,
        0,
        0,
    )
    np.testing.assert_array_equal(compiled, reference)
    graph = simulated_counts(
        {k: pt.as_tensor_variable(v) for k, v in p.items()}, NET, w_in, w_out, x
    )
    np.testing.assert_array_equal(graph.eval(), reference)


@pytest.mark.parametrize("strength", [0.0, 0.5, 2.0])
def test_simulated_chip_is_its_design_distortion(strength):
    chip = SimulatedChip(N_IN, N_OUT, NET, strength, seed=4)
    mismatch = draw_mismatch(np.random.default_rng(4), N_IN, NET.n_hidden, N_OUT)
    hidden, design = hidden_distortion(chip), design_distortion(strength, mismatch)
    assert hidden.globals() == design.globals()
    for name in MISMATCH:
        np.testing.assert_array_equal(getattr(hidden, name), getattr(design, name))
    rng = np.random.default_rng(9)
    w_in, w_out = rng.normal(0, 2, (N_IN, NET.n_hidden)), rng.normal(0, 2, (NET.n_hidden, N_OUT))
    x = rng.uniform(0, 1, (11, N_IN))
    np.testing.assert_array_equal(
        chip.run(w_in, w_out, x),
        simulate(design_distortion(strength, mismatch), NET, w_in, w_out, x),
    )


def test_identity_distortion_is_the_ideal_network_even_above_the_leak_cap():
    """With a nominal leak above 0.99 the identity distortion still leaves it alone."""
    network = Network(n_hidden=5, n_steps=16, beta=0.995)
    arrays = Distortion().arrays(network, N_IN, N_OUT)
    np.testing.assert_array_equal(arrays.beta_hidden, np.full(5, 0.995))
    np.testing.assert_array_equal(arrays.gain_in, np.ones((N_IN, 5)))
    assert arrays.inverse_w_sat == 0.0

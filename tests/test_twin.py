"""The digital twin: its simulator Op, probe measurements and a small twin fit."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from limprob.chip import Distortion, ParametricChip, SimulatedChip, represented_truth, simulate
from limprob.chip.probes import record_probes, record_probes_from_table
from limprob.likelihood.chip_likelihood import BlackBoxGradientError
from limprob.likelihood.simulator import DistortedCounts
from limprob.snn import Network, lif_counts

NET = Network(n_hidden=6, n_steps=32)


def weights(seed, batch=3):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(batch, 30, NET.n_hidden)),
        rng.normal(size=(batch, NET.n_hidden, 2)),
        rng.uniform(size=(25, 30)),
    )


def op_graph():
    args = [
        pt.dtensor3("w_in"),
        pt.dtensor3("w_out"),
        pt.dmatrix("x"),
        pt.dmatrix("g_in"),
        pt.dmatrix("g_out"),
        pt.dscalar("inv_sat"),
        pt.dvector("b_h"),
        pt.dvector("t_h"),
        pt.dvector("b_o"),
        pt.dvector("t_o"),
    ]
    return args, DistortedCounts(NET.n_steps)(*args)


@pytest.mark.parametrize("mode", ["NUMBA", "FAST_COMPILE"])
def test_identity_theta_equals_the_ideal_network(mode):
    args, counts = op_graph()
    function = pytensor.function(args, counts, mode=mode)
    if mode == "NUMBA":  # the Op has its own numba implementation, no object-mode fallback
        assert "DistortedCounts" not in str(function.maker.linker.__class__)
    w_in, w_out, x = weights(0)
    h = NET.n_hidden
    out = function(
        w_in,
        w_out,
        x,
        np.ones((30, h)),
        np.ones((h, 2)),
        0.0,
        np.full(h, NET.beta),
        np.full(h, NET.theta),
        np.full(2, NET.beta),
        np.full(2, NET.theta),
    )
    for b in range(3):
        ideal = lif_counts(
            x,
            w_in[b],
            w_out[b],
            np.full(h, NET.beta),
            np.full(h, NET.theta),
            np.full(2, NET.beta),
            np.full(2, NET.theta),
            NET.n_steps,
        )
        np.testing.assert_array_equal(out[b], ideal)
    assert out.sum() > 0  # the neurons fire, so the comparison means something
    np.testing.assert_array_equal(simulate(Distortion(), NET, w_in, w_out, x), out)


def test_twin_of_a_strength_0_chip_is_the_identity_and_distortion_changes_counts():
    chip = SimulatedChip(30, 2, NET, strength=0.0, seed=3)
    truth = represented_truth(chip)
    assert truth["inverse_w_sat"] == 0 and truth["log_gain"] == 0 and truth["log_leak"] == 0
    w_in, w_out, x = weights(1, batch=1)
    np.testing.assert_array_equal(
        chip.run(w_in[0], w_out[0], x), simulate(Distortion(), NET, w_in[0], w_out[0], x)
    )
    distorted = simulate(Distortion(inverse_w_sat=2.0, log_gain=0.3), NET, w_in, w_out, x)
    assert not np.array_equal(distorted, simulate(Distortion(), NET, w_in, w_out, x))


def test_the_simulator_has_no_gradient():
    args, counts = op_graph()
    with pytest.raises(BlackBoxGradientError, match="no gradient"):
        pytensor.grad(counts.sum(), args[0])


def test_probe_recording_is_reproducible_by_seed_and_counts_queries(data):
    chip = SimulatedChip(30, 2, NET, strength=1.0, seed=0)
    first = record_probes_from_table(chip, data.train, n_probes=5, n_obs=12, seed=4)
    assert chip.queries == 5 and first.attrs["probe_chip_queries"] == 5
    assert first["counts"].dims == ("probe", "obs", "output")
    assert first["W_in"].dims == ("probe", "input", "hidden")
    assert first["W_out"].dims == ("probe", "hidden", "output")
    again = record_probes_from_table(SimulatedChip(30, 2, NET, 1.0, 0), data.train, 5, 12, seed=4)
    assert first.identical(again)
    other = record_probes_from_table(chip, data.train, 5, 12, seed=5)
    assert not np.array_equal(first["W_in"].values, other["W_in"].values)


def test_parametric_chip_probes_match_its_distortion():
    theta = Distortion(inverse_w_sat=1.5, log_gain=-0.2, log_leak=0.02)
    chip = ParametricChip(theta, 30, 2, NET)
    w_in, w_out, x = weights(2, batch=1)
    probes = record_probes(chip, x, n_probes=3, seed=0)
    np.testing.assert_array_equal(
        probes["counts"].values,
        simulate(theta, NET, probes["W_in"].values, probes["W_out"].values, x),
    )


def test_twin_fit_keeps_probe_and_label_log_likelihoods_apart(data, tmp_path):
    import arviz as az

    from limprob.io import save_trace
    from limprob.twin import TwinConfig, fit_twin

    net = Network(n_hidden=4, n_steps=16)
    chip = SimulatedChip(30, 2, net, strength=1.0, seed=0)
    probes = record_probes_from_table(chip, data.train, n_probes=4, n_obs=10, seed=0)
    small = data.__class__(data.train.isel(obs=slice(0, 40)), data.test)
    tree = fit_twin(
        net,
        probes,
        small,
        TwinConfig(families=("saturation",), draws=150, tune=50, chains=1),
        deploy_to=chip,
    )
    assert tree["log_likelihood"]["probe_counts"].dims == (
        "chain",
        "draw",
        "probe",
        "probe_obs",
        "class",
    )
    assert tree["log_likelihood"]["y"].dims == ("chain", "draw", "obs")
    assert tree.attrs["training_chip_queries"] == 4 and tree.attrs["deployment_chip_queries"] == 1
    assert 0 <= tree.attrs["test_accuracy_posterior_mean"] <= 1
    assert np.isfinite(tree["log_likelihood"]["y"].values).all()
    assert np.isfinite(az.loo(tree, var_name="probe_counts").elpd)
    save_trace(tree, tmp_path / "twin.nc")

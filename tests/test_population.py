"""The chip population twin: the exact chip family, its synthetic likelihood and a small fit."""

import warnings

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import stats

from limprob.chip import Distortion, SimulatedChip, hidden_distortion, simulate
from limprob.chip.distortion import GLOBALS, DistortionGlobals, Mismatch
from limprob.chip.probes import probe_weights, record_probes_from_table
from limprob.data import load_table, split
from limprob.errors import LimprobError
from limprob.inference.step_methods import BlockedMetropolis
from limprob.likelihood.chip_likelihood import BlackBoxGradientError
from limprob.likelihood.synthetic import (
    gaussian_synthetic_log_likelihood,
    population_summaries,
    probe_summaries,
    standard_draws,
    synthetic_log_likelihood,
)
from limprob.models.chip_population import build_population_model
from limprob.snn import Network
from limprob.twin import PopulationConfig, fit_population

NET = Network(n_hidden=4, n_steps=16)


@pytest.mark.parametrize("strength", [0.0, 1.0, 2.0])
def test_the_population_contains_every_simulated_chip_exactly(strength):
    chip = SimulatedChip(30, 2, Network(n_hidden=6), strength, seed=5)
    distortion = hidden_distortion(chip)
    w_in, w_out, _ = probe_weights(4, 30, 6, 2, seed=1)
    x = np.random.default_rng(2).uniform(size=(20, 30))
    for p in range(4):
        np.testing.assert_array_equal(
            chip.run(w_in[p], w_out[p], x), simulate(distortion, chip.network, w_in[p], w_out[p], x)
        )
    assert distortion.globals() == {
        "inverse_w_sat": 2 * strength,
        "log_gain": 0.0,
        "log_leak": 0.0,
        "threshold_spread": 0.4 * strength,
        "gain_spread": 0.7 * strength,
        "leak_spread": 0.1 * strength,
    }


def test_probe_summaries_by_hand():
    counts = np.array([[[0.0, 4.0]], [[9.0, 0.0]], [[1.0, 1.0]]])  # (probe, obs, output)
    # groups: probes [0] and [1, 2]
    expected = [(0 + 2) / 2, 1 / 2, (3 + 0 + 1 + 1) / 4, 3 / 4]
    np.testing.assert_allclose(probe_summaries(counts, 2), expected)


def test_synthetic_log_likelihood_is_the_gaussian_of_the_simulated_summaries():
    rng = np.random.default_rng(0)
    simulated = rng.normal(size=(40, 3)) @ np.array([[1.0, 0.5, 0], [0, 1.0, 0.2], [0, 0, 0.3]])
    observed = np.array([0.3, -0.2, 0.1])
    floor = 0.05
    expected = stats.multivariate_normal(
        simulated.mean(0), np.cov(simulated.T) + floor**2 * np.eye(3)
    ).logpdf(observed)
    assert gaussian_synthetic_log_likelihood(observed, simulated, floor) == pytest.approx(expected)


def small_probes(strength=1.0, seed=0):
    chip = SimulatedChip(30, 2, NET, strength, seed)
    train = split(load_table(), seed=0).train
    return record_probes_from_table(chip, train, n_probes=6, n_obs=12, seed=seed)


def test_population_without_spread_is_one_chip_repeated():
    probes = small_probes()
    draws = standard_draws(5, 30, NET.n_hidden, 2, seed=3)
    summaries = population_summaries(
        probes["W_in"].values,
        probes["W_out"].values,
        probes["x"].values,
        Mismatch(**draws),
        DistortionGlobals(1.5, 0.2, -0.02, 0.0, 0.0, 0.0),
        NET.beta,
        NET.theta,
        NET.n_steps,
        3,
    )
    one = simulate(
        Distortion(inverse_w_sat=1.5, log_gain=0.2, log_leak=-0.02),
        NET,
        probes["W_in"].values,
        probes["W_out"].values,
        probes["x"].values,
    )
    for row in summaries:
        np.testing.assert_array_equal(row, probe_summaries(one, 3))


@pytest.mark.parametrize("mode", ["NUMBA", "FAST_COMPILE"])
def test_the_op_is_deterministic_and_follows_its_draws(mode):
    probes = small_probes()
    observed = pt.dvector("observed")
    globals_ = [pt.dscalar(name) for name in GLOBALS]
    arrays = [pt.dtensor3("w_in"), pt.dtensor3("w_out"), pt.dmatrix("x")]
    draws = {
        "gain_z_in": pt.dtensor3(),
        "gain_z_out": pt.dtensor3(),
        "threshold_z": pt.dmatrix(),
        "leak_z": pt.dmatrix(),
    }
    loglik = synthetic_log_likelihood(observed, globals_, *arrays, draws, NET, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an object-mode fallback warns; make it fail
        function = pytensor.function(
            [observed, *globals_, *arrays, *draws.values()], loglik, mode=mode
        )
    values = (2.0, 0.0, 0.0, 0.7, 0.4, 0.1)
    counts = np.ascontiguousarray(probes["counts"].values, dtype=float)
    s = probe_summaries(counts, 3)
    probe_arrays = [probes["W_in"].values, probes["W_out"].values, probes["x"].values]

    def evaluate(seed):
        z = standard_draws(20, 30, NET.n_hidden, 2, seed)
        op = loglik.owner.op
        direct = gaussian_synthetic_log_likelihood(
            s, op.simulate(values, *probe_arrays, *z.values()), op.floor
        )
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return float(function(s, *values, *probe_arrays, *z.values())), direct

    first, direct = evaluate(0)
    assert np.isfinite(first) and first == pytest.approx(direct, rel=1e-12)
    assert evaluate(0)[0] == first  # same draws, same value, bit for bit
    assert evaluate(1)[0] != first  # other draws, another estimate
    with pytest.raises(BlackBoxGradientError, match="no gradient"):
        pytensor.grad(loglik, globals_[0])


def test_adaptive_covariance_learns_a_correlated_target():
    covariance = np.array([[1.0, 0.95], [0.95, 1.0]]) * 0.01
    with pm.Model():
        pm.MvNormal("x", mu=np.zeros(2), cov=covariance)
        step = BlockedMetropolis(adapt_covariance=True, covariance_warmup=100)
        tree = pm.sample(
            draws=3000,
            tune=1500,
            chains=1,
            step=step,
            random_seed=1,
            progressbar=False,
            compute_convergence_checks=False,
        )
    learnt = step._proposal_factor @ step._proposal_factor.T
    assert learnt[0, 1] / np.sqrt(learnt[0, 0] * learnt[1, 1]) > 0.8
    draws = tree["posterior"]["x"].values.reshape(-1, 2)
    assert np.corrcoef(draws.T)[0, 1] == pytest.approx(0.95, abs=0.05)
    accept = tree["sample_stats"]["accept"].values.mean()
    assert 0.15 < accept < 0.45


def test_fit_population_small_run_is_reproducible():
    probes = small_probes(seed=1)
    config = PopulationConfig(draws=40, tune=60, chains=2, seed=3, n_chips=16, n_groups=2)
    first = fit_population(NET, probes, config)
    posterior = first["posterior"].to_dataset()
    assert set(GLOBALS) <= set(posterior.data_vars)
    assert posterior.sizes == {"chain": 2, "draw": 40}
    synthetic = first["sample_stats"]["synthetic_log_likelihood"].values
    assert synthetic.shape == (2, 40) and np.all(np.isfinite(synthetic))
    assert first["observed_data"]["summaries"].dims == ("summary",)
    assert first.attrs["training_chip_queries"] == 6 and first.attrs["model"] == "chip_population"
    # the recorded synthetic log-likelihood is the density's value at each draw: lp less prior
    model = build_population_model(NET, probes, config.n_chips, config.n_groups, config.seed)
    log_prior = model.compile_logp(vars=model.free_RVs)
    for chain, draw in [(0, 0), (1, 39)]:
        point = {}
        for rv in model.free_RVs:
            value, name = posterior[rv.name].values[chain, draw], model.rvs_to_values[rv].name
            point[name] = np.log(value) if name.endswith("_log__") else value
        lp = first["sample_stats"]["lp"].values[chain, draw]
        assert synthetic[chain, draw] == pytest.approx(lp - log_prior(point), abs=1e-8)
    second = fit_population(NET, probes, config)
    for name in GLOBALS:
        np.testing.assert_array_equal(posterior[name].values, second["posterior"][name].values)


@pytest.mark.parametrize("bad", [{"n_chips": 4}, {"draws": 0}, {"tune": -1}, {"n_groups": 0}])
def test_population_config_refuses_bad_settings(bad):
    with pytest.raises(LimprobError):
        PopulationConfig(**bad)

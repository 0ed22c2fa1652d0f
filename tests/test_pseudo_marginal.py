"""Pseudo-marginal MH on a noisy likelihood: exact against quadrature, R calls per estimate,
the pilot that picks R, and Monte Carlo within Metropolis as the labelled alternative.

The model is the logistic regression of :mod:`tests.test_gradient_free_steps` behind a black-box
``Op`` that returns the log of an unbiased noisy estimate of each observation's likelihood,

    p_hat_i = p_i(w) exp(s z_i - s^2 / 2),    z_i ~ Normal(0, 1) afresh on every call,
    s = s(w) = 0.2 (1 + |w_1 - 1|),

so ``E[p_hat_i] = p_i(w)`` and the one-call estimate of the total log-likelihood has variance
``40 s^2`` (about 1.6 .. 4 near the posterior). The noise depends on ``w``, so an estimator
averaged in log space (biased by ``-40 s(w)^2 / 2``) would tilt the posterior.
"""

from __future__ import annotations

import functools

import arviz as az
import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

import limprob.inference.step_methods as gf
from limprob.inference.step_methods.likelihood_estimator import (
    LikelihoodEstimator,
    average_in_probability,
)
from tests.test_gradient_free_steps import PRIOR_SD, Y, pointwise_log_likelihood, quadrature_moments

pytestmark = pytest.mark.filterwarnings("ignore:Numba will use object mode")


def noise_sd(w) -> float:
    """The log-normal noise ``s(w)`` of each observation's estimate."""
    return 0.2 * (1.0 + abs(float(np.asarray(w)[0]) - 1.0))


class NoisyQuery(Op):
    """``(w, y) -> log p_hat_i``, an unbiased noisy estimate per observation; counts calls."""

    def __init__(self, seed=0):
        self.calls = 0
        self.rng = np.random.default_rng(seed)

    def make_node(self, w, y):
        return Apply(self, [pt.as_tensor_variable(w), pt.as_tensor_variable(y)], [pt.dvector()])

    def perform(self, node, inputs, outputs):
        self.calls += 1
        s = noise_sd(inputs[0])
        noise = s * self.rng.standard_normal(len(Y)) - s**2 / 2
        outputs[0][0] = pointwise_log_likelihood(inputs[0]) + noise


def make_model(seed=0):
    chip = NoisyQuery(seed)
    with pm.Model() as model:
        w = pm.Normal("w", 0.0, PRIOR_SD, shape=2)
        pm.CustomDist("y", w, logp=lambda value, w: chip(w, value), observed=Y)
    return model, chip


STEPS = {
    "pcn": gf.PreconditionedCrankNicolson,
    "blocked": gf.BlockedMetropolis,
    "demcz": gf.DEMetropolisZCached,
}


@functools.cache
def run(step_name: str, repeats, re_estimate: bool = False, draws: int = 6000):
    model, chip = make_model()
    estimator = LikelihoodEstimator(repeats=repeats, re_estimate_current=re_estimate)
    step = STEPS[step_name](model=model, estimator=estimator)
    with model:
        idata = pm.sample(
            draws=draws,
            tune=1000,
            chains=2,
            cores=1,
            step=step,
            random_seed=3,
            progressbar=False,
            compute_convergence_checks=False,
            discard_tuned_samples=False,
        )
    return idata, chip


@pytest.mark.parametrize("step_name, repeats", [("pcn", 3), ("pcn", "auto"), ("blocked", 2)])
def test_pseudo_marginal_draws_match_the_exact_posterior(step_name, repeats):
    idata, _ = run(step_name, repeats)
    mean, sd = quadrature_moments()
    draws = idata.posterior["w"].values
    for i in range(2):
        assert az.ess(draws[..., i], method="bulk") > 150, "too few effective draws for a test"
        mcse_mean = az.mcse(draws[..., i], method="mean")
        mcse_sd = az.mcse(draws[..., i], method="sd")
        assert abs(draws[..., i].mean() - mean[i]) < 4 * mcse_mean
        assert abs(draws[..., i].std() - sd[i]) < 4 * mcse_sd


@pytest.mark.parametrize("repeats", [1, 3])
def test_each_estimate_spends_exactly_repeats_calls(repeats):
    idata, chip = run("pcn", repeats, draws=300)
    evaluations = np.concatenate(
        [idata.warmup_sample_stats["evaluations"].values, idata.sample_stats["evaluations"].values],
        axis=1,
    )
    # the chain's first step also estimates the initial point
    np.testing.assert_array_equal(evaluations[:, 0], 2 * repeats)
    np.testing.assert_array_equal(evaluations[:, 1:], repeats)
    assert chip.calls == evaluations.sum()
    assert np.all(idata.sample_stats["repeats"].values == repeats)


def test_the_pilot_picks_repeats_from_the_measured_variance():
    idata, _ = run("pcn", "auto")
    variance = idata.sample_stats["pilot_log_likelihood_variance"].values[:, -1]
    repeats = idata.sample_stats["repeats"].values[:, -1]
    # the one-call variance is 40 s(w)^2 at the chain's last tuning point; 20 pilot calls
    # measure it within a chi-square spread, and R = ceil(variance / 1)
    w = idata.warmup_posterior["w"].values[:, -1]
    expected = np.array([40 * noise_sd(point) ** 2 for point in w])
    assert np.all((variance > 0.4 * expected) & (variance < 2.0 * expected)), (variance, expected)
    np.testing.assert_array_equal(repeats, np.ceil(variance).astype(int))
    evaluations = idata.sample_stats["evaluations"].values
    # the first draw after tuning pays for the pilot and a fresh estimate of the current point
    assert np.all(evaluations[:, 0] == 20 + 2 * repeats)


def test_re_estimating_the_current_point_runs_and_spends_two_estimates_a_step():
    idata, _ = run("pcn", 2, re_estimate=True, draws=300)
    np.testing.assert_array_equal(idata.sample_stats["evaluations"].values, 4)


def test_repeats_of_one_call_are_returned_exactly_and_averaged_in_probability_space():
    calls = [[np.array([-1.0, -2.0])], [np.array([-3.0, -4.0])]]
    (averaged,) = average_in_probability(calls)
    np.testing.assert_allclose(averaged, np.log((np.exp([-1.0, -2.0]) + np.exp([-3.0, -4.0])) / 2))
    (single,) = average_in_probability(calls[:1])
    np.testing.assert_array_equal(single, calls[0][0])
    with pytest.raises(ValueError, match="repeats"):
        LikelihoodEstimator(repeats=0)
    assert LikelihoodEstimator(repeats="auto").repeats_for(np.inf) == 64

"""Tests of limprob's gradient-free step methods: exactness against quadrature, chip-query
accounting, delayed acceptance with good and bad screens, and reproducibility.

The likelihood is a logistic regression on 40 observations behind a black-box PyTensor ``Op``
(Python ``perform``, counting its calls like chip queries), with a Normal(0, 1.5) prior on two
weights, either one vector ``w`` or two scalars ``W_in`` and ``W_out`` (for per-block steps).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import arviz as az
import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest
from pymc.step_methods import CompoundStep
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

import limprob.inference.step_methods as gf

pytestmark = pytest.mark.filterwarnings("ignore:Numba will use object mode")

PRIOR_SD = 1.5
_data_rng = np.random.default_rng(20240607)
X = _data_rng.normal(size=(40, 2))
Y = (_data_rng.uniform(size=40) < 1 / (1 + np.exp(-X @ [1.5, -1.0]))).astype(np.int64)


def pointwise_log_likelihood(w: np.ndarray, x: np.ndarray = X) -> np.ndarray:
    """Bernoulli-logit log-likelihood of each observation; ``w`` has shape (..., 2)."""
    eta = np.asarray(w) @ x.T
    return Y * eta - np.logaddexp(0.0, eta)


def log_likelihood(w: np.ndarray) -> float:
    return float(pointwise_log_likelihood(w).sum())


def log_prior(w: np.ndarray) -> np.ndarray:
    w = np.asarray(w)
    return (-0.5 * (w / PRIOR_SD) ** 2 - np.log(PRIOR_SD * np.sqrt(2 * np.pi))).sum(-1)


def good_screen(q: np.ndarray) -> float:
    """A software model of the chip with a 5% gain error."""
    return float(pointwise_log_likelihood(q, 1.05 * X).sum())


def wrong_screen(q: np.ndarray) -> float:
    """A badly wrong approximation: flattened and tilted."""
    return 0.3 * log_likelihood(q) + 2.0 * float(q.sum())


class CountingScreen:
    """A screen that counts its calls."""

    def __init__(self, screen):
        self.screen = screen
        self.calls = 0

    def __call__(self, q: np.ndarray) -> float:
        self.calls += 1
        return self.screen(q)


class ChipQuery(Op):
    """Black-box pointwise log-likelihood ``(w, y) -> log p(y_i | w)`` that counts its calls."""

    def __init__(self):
        self.calls = 0

    def make_node(self, w, y):
        return Apply(self, [pt.as_tensor_variable(w), pt.as_tensor_variable(y)], [pt.dvector()])

    def perform(self, node, inputs, outputs):
        self.calls += 1
        outputs[0][0] = pointwise_log_likelihood(inputs[0])


def make_model(layers: bool = False):
    """The model and its chip; ``layers``: two scalar weights ``W_in``, ``W_out``."""
    chip = ChipQuery()
    with pm.Model() as model:
        if layers:
            w = pt.stack([pm.Normal("W_in", 0.0, PRIOR_SD), pm.Normal("W_out", 0.0, PRIOR_SD)])
        else:
            w = pm.Normal("w", 0.0, PRIOR_SD, shape=2)
        pm.CustomDist("y", w, logp=lambda value, w: chip(w, value), observed=Y)
    return model, chip


@functools.cache
def quadrature_moments() -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and sd of each weight on a 601 x 601 grid over [-6, 6]^2."""
    grid = np.linspace(-6.0, 6.0, 601)
    w = np.stack(np.meshgrid(grid, grid, indexing="ij"), axis=-1).reshape(-1, 2)
    log_post = pointwise_log_likelihood(w).sum(-1) + log_prior(w)
    weights = np.exp(log_post - log_post.max())
    weights /= weights.sum()
    mean = weights @ w
    sd = np.sqrt(weights @ (w - mean) ** 2)
    return mean, sd


# --------------------------------------------------------------------------------------------
# Sampling runs, shared between tests
# --------------------------------------------------------------------------------------------

CASES = {
    "pcn": (False, lambda model: gf.PreconditionedCrankNicolson(model=model)),
    "slice": (False, lambda model: gf.EllipticalSlice(model=model)),
    "demcz": (False, lambda model: gf.DEMetropolisZCached(model=model)),
    "da_rw_wrong": (
        False,
        lambda model: gf.BlockedMetropolis(screen=CountingScreen(wrong_screen), model=model),
    ),
    "da_pcn_wrong": (
        False,
        lambda model: gf.PreconditionedCrankNicolson(
            screen=CountingScreen(wrong_screen), model=model
        ),
    ),
    "da_rw_good": (
        False,
        lambda model: gf.BlockedMetropolis(screen=CountingScreen(good_screen), model=model),
    ),
    "da_pcn_good": (
        False,
        lambda model: gf.PreconditionedCrankNicolson(
            screen=CountingScreen(good_screen), model=model
        ),
    ),
    "layers_pcn": (True, lambda model: gf.layer_blocks(model, gf.PreconditionedCrankNicolson)),
    "layers_slice": (True, lambda model: gf.layer_blocks(model, gf.EllipticalSlice)),
}
SINGLE_STEP_CASES = [case for case, (layers, _) in CASES.items() if not layers]


class Run(NamedTuple):
    idata: object
    step: object
    draws: np.ndarray  # (chain, draw, 2) posterior draws of the two weights
    evaluations: np.ndarray  # (chain, tune + draws, samplers) reported evaluations
    astep_calls: np.ndarray  # (chain, tune + draws, samplers) chip calls inside astep
    total_calls: int  # chip calls during pm.sample


def build(case: str):
    """A fresh model, its chip and the case's step method."""
    layers, make_step = CASES[case]
    model, chip = make_model(layers)
    return model, chip, make_step(model)


def sample(model, step, *, draws: int, tune: int, seed: int):
    """2 chains, sampled one after the other, tuning draws kept."""
    with model:
        return pm.sample(
            draws=draws,
            tune=tune,
            chains=2,
            cores=1,
            step=step,
            random_seed=seed,
            progressbar=False,
            compute_convergence_checks=False,
            discard_tuned_samples=False,
        )


def count_astep_calls(step, chip) -> list[list[int]]:
    """Record, per step method, the chip calls made inside each of its ``astep`` calls."""
    methods = step.methods if isinstance(step, CompoundStep) else [step]
    calls_per_method = [[] for _ in methods]
    for method, calls in zip(methods, calls_per_method):
        method.astep = _counting(method.astep, chip, calls)
    return calls_per_method


def _counting(astep, chip, calls):
    def counted(q0):
        before = chip.calls
        result = astep(q0)
        calls.append(chip.calls - before)
        return result

    return counted


def weights(posterior) -> np.ndarray:
    if "w" in posterior:
        return posterior["w"].values
    return np.stack([posterior["W_in"].values, posterior["W_out"].values], axis=-1)


def stat(idata, name) -> np.ndarray:
    """A stat over tuning and sampling, shaped (chain, draw, samplers)."""
    values = np.concatenate(
        [idata.warmup_sample_stats[name].values, idata.sample_stats[name].values], axis=1
    )
    return values.reshape(*values.shape[:2], -1)


TUNE, DRAWS = 1000, 2000
SETUP_CALLS = 0
"""Chip queries pm.sample (PyMC 6.4) makes outside the step methods when it is given a step:
none (it does not evaluate the initial point)."""


@functools.cache
def full_run(case: str) -> Run:
    model, chip, step = build(case)
    calls_per_method = count_astep_calls(step, chip)
    before = chip.calls
    idata = sample(model, step, draws=DRAWS, tune=TUNE, seed=11)
    astep_calls = np.stack(
        [np.reshape(calls, (2, TUNE + DRAWS)) for calls in calls_per_method], axis=-1
    )
    return Run(
        idata,
        step,
        weights(idata.posterior),
        stat(idata, "evaluations"),
        astep_calls,
        chip.calls - before,
    )


# --------------------------------------------------------------------------------------------
# Exactness
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(CASES))
def test_posterior_mean_and_sd_match_quadrature(case):
    run = full_run(case)
    mean, sd = quadrature_moments()
    for i in range(2):
        draws = run.draws[..., i]
        assert az.ess(draws, method="bulk") > 150, "too few effective draws for a real test"
        mcse_mean = az.mcse(draws, method="mean")
        mcse_sd = az.mcse(draws, method="sd")
        assert abs(draws.mean() - mean[i]) < 4 * mcse_mean, (case, i, draws.mean(), mean[i])
        assert abs(draws.std() - sd[i]) < 4 * mcse_sd, (case, i, draws.std(), sd[i])


@pytest.mark.parametrize("case", list(CASES))
def test_recorded_lp_and_log_likelihood_are_those_of_the_draw(case):
    run = full_run(case)
    recorded = run.idata.sample_stats["log_likelihood__y"].values
    np.testing.assert_allclose(recorded, pointwise_log_likelihood(run.draws), atol=1e-10)
    # In a compound step only the last method keeps lp (PyMC zero-fills the others).
    lp = stat(run.idata, "lp")[:, TUNE:, -1]
    np.testing.assert_allclose(lp, log_prior(run.draws) + recorded.sum(-1), atol=1e-9)


# --------------------------------------------------------------------------------------------
# Chip-query accounting
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(CASES))
def test_evaluations_account_for_every_chip_query(case):
    run = full_run(case)
    np.testing.assert_array_equal(run.evaluations, run.astep_calls)
    assert run.total_calls == SETUP_CALLS + run.evaluations.sum()


@pytest.mark.parametrize("case", ["pcn", "demcz"])
def test_one_evaluation_per_proposal(case):
    evaluations = full_run(case).evaluations[..., 0]
    assert np.all(evaluations[:, 0] == 2)  # the chain's initial point, then the proposal
    assert np.all(evaluations[:, 1:] == 1)


def test_elliptical_slice_evaluations_are_its_shrinks():
    run = full_run("slice")
    evaluations = run.evaluations[..., 0]
    assert np.all(evaluations[:, 1:] >= 1)
    assert evaluations[:, 1:].max() > 1  # some steps shrank the bracket
    assert not stat(run.idata, "max_shrinks_reached").any()


def test_blocks_hand_on_the_evaluation_of_the_point_they_moved_to():
    """With the shared cache each block spends one chip query per proposal: the point a block
    starts from was evaluated by the block before it (or by itself, the step before)."""
    run = full_run("layers_pcn")
    np.testing.assert_array_equal(run.evaluations[:, 1:, :], 1)
    # the first iteration of a chain also evaluates the initial point, once, in the first block
    np.testing.assert_array_equal(run.evaluations[:, 0, :], [[2, 1], [2, 1]])


def test_elliptical_slice_gives_up_after_max_shrinks():
    model, _ = make_model()
    idata = sample(model, gf.EllipticalSlice(model=model, max_shrinks=0), draws=200, tune=0, seed=3)
    gave_up = idata.sample_stats["max_shrinks_reached"].values
    draws = idata.posterior["w"].values
    evaluations = idata.sample_stats["evaluations"].values
    assert gave_up[:, 1:].any() and not gave_up.all()
    assert np.all(evaluations[:, 1:] == 1)
    stayed = np.all(draws[:, 1:] == draws[:, :-1], axis=-1)
    np.testing.assert_array_equal(stayed, gave_up[:, 1:])


# --------------------------------------------------------------------------------------------
# Delayed acceptance
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["da_rw_good", "da_pcn_good", "da_rw_wrong", "da_pcn_wrong"])
def test_screened_out_proposals_cost_nothing(case):
    run = full_run(case)
    screened_out = stat(run.idata, "screened_out")[..., 0]
    evaluations = run.evaluations[..., 0]
    expensive = evaluations - np.eye(1, evaluations.shape[1], dtype=int)  # first: initial point
    np.testing.assert_array_equal(expensive, ~screened_out)
    # The screen runs once per proposal, plus once at each chain's initial point.
    assert run.step.screen.calls == screened_out.size + screened_out.shape[0]


@pytest.mark.parametrize("case", ["da_rw_good", "da_pcn_good"])
def test_good_screen_saves_chip_queries(case):
    run = full_run(case)
    screened_out = stat(run.idata, "screened_out")
    proposals = screened_out.size
    assert screened_out.mean() > 0.3
    assert run.total_calls < 0.7 * proposals
    # A good screen lets almost every proposal that reaches the chip through.
    accepted = stat(run.idata, "accepted")
    assert accepted[~screened_out].mean() > 0.8


# --------------------------------------------------------------------------------------------
# Reproducibility and validation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", ["pcn", "slice", "demcz", "da_rw_good", "da_pcn_wrong", "layers_pcn"]
)
def test_same_seed_same_draws(case):
    model, _, step = build(case)
    first = sample(model, step, draws=150, tune=100, seed=5)
    reused = sample(model, step, draws=150, tune=100, seed=5)  # the same instance again
    fresh = sample(*build(case)[::2], draws=150, tune=100, seed=5)
    other = sample(model, step, draws=150, tune=100, seed=6)
    for run in (fresh, reused):
        np.testing.assert_array_equal(weights(run.posterior), weights(first.posterior))
        np.testing.assert_array_equal(
            weights(run.warmup_posterior), weights(first.warmup_posterior)
        )
        np.testing.assert_array_equal(stat(run, "evaluations"), stat(first, "evaluations"))
    assert not np.array_equal(weights(other.posterior), weights(first.posterior))


@pytest.mark.parametrize("step_class", [gf.PreconditionedCrankNicolson, gf.EllipticalSlice])
def test_gaussian_prior_is_required(step_class):
    with pm.Model():
        pm.Normal("ordered", 0.0, 1.0, shape=2, transform=pm.distributions.transforms.ordered)
        with pytest.raises(ValueError, match="untransformed Normal"):
            step_class()
    with pm.Model():
        pm.HalfNormal("positive", 1.0)
        with pytest.raises(ValueError, match="needs a Normal prior"):
            step_class()
    with pm.Model():
        scale = pm.HalfNormal("scale", 1.0)
        child = pm.Normal("child", 0.0, scale)
        with pytest.raises(ValueError, match="constant mu and sigma"):
            step_class([child])


def test_gaussian_prior_is_read_per_coordinate():
    with pm.Model():
        pm.Normal("a", mu=np.array([1.0, -2.0]), sigma=3.0)
        pm.Normal("b", mu=0.5, sigma=np.array([[1.0, 2.0], [3.0, 4.0]]))
        step = gf.PreconditionedCrankNicolson()
    names = [v.name for v in step.vars]
    expected = {"a": ([1.0, -2.0], [3.0, 3.0]), "b": ([0.5] * 4, [1.0, 2.0, 3.0, 4.0])}
    np.testing.assert_array_equal(step.prior.mu, np.concatenate([expected[n][0] for n in names]))
    np.testing.assert_array_equal(step.prior.sigma, np.concatenate([expected[n][1] for n in names]))


def test_layer_blocks_default_to_one_block_per_free_variable():
    model, _ = make_model(layers=True)
    step = gf.layer_blocks(model, gf.DEMetropolisZCached, thin=2)
    assert [[v.name for v in method.vars] for method in step.methods] == [["W_in"], ["W_out"]]
    assert all(method.thin == 2 for method in step.methods)
    assert [list(m._observed_names) for m in step.methods] == [[], ["y"]]
    custom = gf.layer_blocks(model, gf.EllipticalSlice, blocks={"all": ["W_out", "W_in"]})
    assert [[v.name for v in method.vars] for method in custom.methods] == [["W_out", "W_in"]]

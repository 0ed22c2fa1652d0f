"""Blocked Metropolis through the chip Op machinery: correctness and the cost in queries."""

import arviz as az
import numba
import numpy as np
import pymc as pm
import pytest
from scipy.special import expit

from limprob.inference.sampling import SamplerSettings, sample
from limprob.inference.step_methods import BlockedMetropolis, CountedStep
from limprob.models.chip_in_the_loop import build_model
from limprob.snn import Network


class LogitChip:
    """A chip with a known answer: whatever the input, output 0 counts 0 spikes and output 1
    counts ``T * W_in[0, 0]``, so y_i ~ Bernoulli(sigmoid(kappa W_in[0, 0])) and the other
    weights do not touch the likelihood (their posterior is their prior)."""

    network = Network(n_hidden=1, n_steps=4)
    n_inputs, n_outputs = 2, 2

    def __init__(self):
        self._queries = np.zeros(1, dtype=np.int64)
        steps = self.network.n_steps

        @numba.njit
        def run(w_in, w_out, x):
            counts = np.zeros((x.shape[0], 2))
            counts[:, 1] = steps * w_in[0, 0]
            return counts

        self._run = run

    @property
    def queries(self):
        return int(self._queries[0])

    def run(self, w_in, w_out, x):  # the Python path; counted here
        self._queries[0] += 1
        return self._run(w_in, w_out, x)


@pytest.fixture
def logit_model(data):
    train = data.train.isel(obs=slice(0, 40), feature=slice(0, 2))
    chip = LogitChip()
    # the Python path of the Op (no numba_run attribute): object mode, counted in run()
    return chip, build_model(chip, train, sigma_w=1.0, kappa=1.5), train["labels"].values


def sample_counted(model, chip, method, **settings):
    """Sample ``model`` with ``method`` and a chip-query counter, through limprob's one
    sampling call."""
    with model:
        step = CountedStep(method(), chip)
    return sample(model, step, SamplerSettings(**settings), progressbar=False)[0]


def quadrature_posterior(labels, kappa, sigma):
    grid = np.linspace(-6, 6, 20001)
    p = expit(kappa * grid)
    log_post = (
        -0.5 * (grid / sigma) ** 2
        + labels.sum() * np.log(p)
        + (labels.size - labels.sum()) * np.log1p(-p)
    )
    weights = np.exp(log_post - log_post.max())
    weights /= weights.sum()
    mean = (weights * grid).sum()
    return mean, np.sqrt((weights * (grid - mean) ** 2).sum())


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_blocked_metropolis_recovers_a_known_posterior(logit_model):
    chip, model, labels = logit_model
    tree = sample_counted(model, chip, BlockedMetropolis, draws=4000, tune=1000, chains=4, seed=3)
    w = tree["posterior"]["W_in"].isel(feature=0, hidden=0)
    mean, sd = quadrature_posterior(labels, 1.5, 1.0)
    mcse = float(az.mcse(w.to_dataset(name="w"))["w"])
    assert abs(float(w.mean()) - mean) < 4 * mcse
    assert abs(float(w.std()) / sd - 1) < 0.1
    # W_out never reaches the likelihood: its posterior is the Normal(0, 1) prior
    free = tree["posterior"]["W_out"]
    assert abs(float(free.std()) - 1.0) < 0.1
    assert abs(float(free.mean())) < 0.1
    # acceptance was tuned toward 0.234
    accepted = float(tree["sample_stats"]["accepted"].mean())
    assert 0.15 < accepted < 0.35


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_one_query_per_proposal_and_counts_match_the_chip(logit_model):
    chip, model, labels = logit_model
    before = chip.queries
    tree = sample_counted(model, chip, BlockedMetropolis, draws=30, tune=20, chains=2, seed=1)
    queries = tree["sample_stats"]["chip_queries"]
    # per chain: one query for the start point, then one per proposal (tuning included)
    np.testing.assert_array_equal(queries.isel(draw=-1).values, [51, 51])
    np.testing.assert_array_equal(queries.diff("draw").values, 1)
    # and nothing outside the chains: the chip saw exactly what the stats say
    assert chip.queries - before == 2 * 51


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_pymc_metropolis_spends_two_queries_per_element_update(logit_model):
    chip, model, labels = logit_model
    tree = sample_counted(model, chip, pm.Metropolis, draws=3, tune=0, chains=1, seed=1)
    n_weights = 2 * 1 + 1 * 2
    queries = tree["sample_stats"]["chip_queries"].isel(chain=0).values
    np.testing.assert_array_equal(np.diff(queries), 2 * n_weights)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_recorded_log_likelihood_is_the_current_points(logit_model):
    chip, model, labels = logit_model
    tree = sample_counted(model, chip, BlockedMetropolis, draws=20, tune=10, chains=1, seed=2)
    recorded = np.stack(tree["sample_stats"]["log_likelihood__y"].isel(chain=0).values)
    w = tree["posterior"]["W_in"].isel(chain=0, feature=0, hidden=0).values
    p = expit(1.5 * w)[:, None]
    expected = np.where(labels[None, :] == 1, np.log(p), np.log1p(-p))
    np.testing.assert_allclose(recorded, expected, rtol=1e-10)

"""Two-phase sampling in a subspace: the subspace step samples a known restricted posterior at
one evaluation per query, a run is the same bit for bit for each mode, the trace says the
posterior is restricted, and bad ``--subspace`` values are refused."""

from dataclasses import replace

import arviz as az
import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest
import xarray as xr
from arviz_stats import ess
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from limprob.cli import main
from limprob.data import split
from limprob.errors import LimprobError
from limprob.inference import subspace as subspaces
from limprob.inference.sampling import prior_draws
from limprob.inference.step_methods import AdaptiveMetropolis, CountedStep
from limprob.inference.training import (
    EvaluationSettings,
    MCMCSettings,
    TrainConfig,
    make_step,
    simulated_chip,
    train,
)
from limprob.io import load_trace, save_trace
from limprob.models.chip_in_the_loop import build_model
from limprob.models.chip_subspace import subspace_weights
from limprob.snn import Network

TINY = TrainConfig(
    network=Network(n_hidden=3, n_steps=8),
    mcmc=MCMCSettings(draws=20, tune=60, chains=2, subspace="pca:2"),
    evaluation=EvaluationSettings(predictive_draws=4, train_fraction=0.3),
)
"""A tiny run in the top-2 principal subspace."""


class Queries:
    queries = 0


class CountedGaussianLogLikelihood(Op):
    """``sum_j log N(y_j | w_j, t^2)`` of a weight vector, counting its calls as queries."""

    def __init__(self, y, t, counter):
        self.y, self.t, self.counter = np.asarray(y), float(t), counter

    def make_node(self, w):
        return Apply(self, [pt.as_tensor_variable(w, dtype="float64", ndim=1)], [pt.dscalar()])

    def perform(self, node, inputs, output_storage):
        self.counter.queries += 1
        r = (inputs[0] - self.y) / self.t
        output_storage[0][0] = np.asarray(
            -0.5 * r @ r - r.size * np.log(self.t) - 0.5 * r.size * np.log(2 * np.pi)
        )


@pytest.mark.filterwarnings("ignore:Numba will use object mode")
def test_the_subspace_step_samples_the_restricted_gaussian_posterior_at_one_query_each():
    # W = (W_in, W_out) in R^4, prior N(0, s^2 I), likelihood N(y | W, t^2 I): the posterior
    # is N(mu, Lambda^-1), Lambda = (1/s^2 + 1/t^2) I. On W = c + P z it is, in z, Gaussian
    # with precision A = P^T Lambda P and mean A^-1 P^T Lambda (mu - c).
    s, t = 1.5, 0.7
    y = np.array([1.0, -0.5, 2.0, 0.3])
    centre = np.array([0.4, -0.2, 0.1, 0.6])
    basis = np.array([[1.0, 0.2], [0.5, -1.0], [0.0, 0.7], [-0.3, 0.4]])
    subspace = subspaces.Subspace(centre, basis, "pca", ((2, 1), (1, 2)))
    lam = (1 / s**2 + 1 / t**2) * np.eye(4)
    mu = np.linalg.solve(lam, y / t**2)
    precision = basis.T @ lam @ basis
    mean = np.linalg.solve(precision, basis.T @ lam @ (mu - centre))

    counter = Queries()
    coords = {"feature": [0, 1], "hidden": [0], "class": [0, 1], "direction": [0, 1]}
    with pm.Model(coords=coords) as model:
        w_in, w_out = subspace_weights(subspace, s)
        weights = pt.concatenate([w_in.ravel(), w_out.ravel()])
        pm.Potential("y", CountedGaussianLogLikelihood(y, t, counter)(weights))
        step = CountedStep(
            AdaptiveMetropolis(covariance=np.eye(2), covariance_warmup=200), counter, model=model
        )
        tree = pm.sample(
            draws=4000,
            tune=1000,
            chains=2,
            step=step,
            random_seed=3,
            progressbar=False,
            compute_convergence_checks=False,
            initvals=[{"z": np.zeros(2)}, {"z": np.ones(2)}],
        )
    z = tree["posterior"]["z"]
    n_eff = ess(z, method="mean").values
    sd = np.sqrt(np.diag(np.linalg.inv(precision)))
    assert np.all(np.abs(z.mean(("chain", "draw")).values - mean) < 4 * sd / np.sqrt(n_eff))
    variance = z.var(("chain", "draw")).values
    assert np.all(np.abs(variance / sd**2 - 1) < 4 * np.sqrt(2 / n_eff))
    # the weights are the deterministic c + P z
    w = np.concatenate(
        [
            tree["posterior"]["W_in"].values.reshape(2, 4000, -1),
            tree["posterior"]["W_out"].values.reshape(2, 4000, -1),
        ],
        axis=-1,
    )
    np.testing.assert_allclose(w, centre + z.values @ basis.T, rtol=1e-12, atol=1e-12)
    # one query per proposal, the start point's once per chain, tuning included
    stats = tree["sample_stats"]
    assert (stats["evaluations"].values == 1).all()
    np.testing.assert_array_equal(stats["chip_queries"].isel(draw=-1).values, [5001, 5001])


def test_the_restricted_prior_is_the_weight_prior_on_the_subspace():
    rng = np.random.default_rng(0)
    centre, basis = rng.normal(size=6), rng.normal(size=(6, 3))
    subspace = subspaces.Subspace(centre, basis, "random", ((2, 2), (2, 1)))
    mean, precision = subspace.prior(sigma_w=2.0)
    z1, z2 = rng.normal(size=3), rng.normal(size=3)

    def log_prior(w):
        return -0.5 * w @ w / 4.0

    def log_z(z):
        return -0.5 * (z - mean) @ precision @ (z - mean)

    # the two log-densities differ by a constant along the subspace
    assert np.isclose(
        log_prior(centre + basis @ z1) - log_prior(centre + basis @ z2), log_z(z1) - log_z(z2)
    )
    np.testing.assert_allclose(subspace.project(centre + basis @ z1), z1)


@pytest.fixture(scope="module")
def full_phase(wisconsin):
    """The full-space phase of a tiny run, sampled once for the module."""
    config = TINY
    data = split(wisconsin, seed=config.mcmc.seed, train_fraction=config.evaluation.train_fraction)
    chip = simulated_chip(config, wisconsin)
    model = build_model(chip, data.train, sigma_w=config.model.sigma_w, kappa=config.model.kappa)
    step = make_step(model, chip, config, data.train)
    starts = prior_draws(model, config.mcmc.chains, config.mcmc.seed)
    full = subspaces.full_space_phase(model, step, config, starts, progressbar=False)
    return full, chip, data, config


@pytest.mark.parametrize("mode", ["pca:2", "readout", "random:2"])
def test_same_seed_same_subspace_phase_bit_for_bit(full_phase, mode):
    full, chip, data, config = full_phase
    config = replace(config, mcmc=replace(config.mcmc, subspace=mode))
    first, *_ = subspaces.subspace_phase(full, chip, data.train, config, progressbar=False)
    again, *_ = subspaces.subspace_phase(full, chip, data.train, config, progressbar=False)
    for group in ("posterior", "sample_stats", "warmup_posterior", "warmup_log_likelihood"):
        xr.testing.assert_equal(first[group].to_dataset(), again[group].to_dataset())
    other, *_ = subspaces.subspace_phase(
        full,
        chip,
        data.train,
        replace(config, mcmc=replace(config.mcmc, seed=1)),
        progressbar=False,
    )
    assert not np.array_equal(other["posterior"]["z"].values, first["posterior"]["z"].values)
    posterior = first["posterior"]
    k = 2 if mode != "readout" else 3 * 2
    assert posterior.sizes["direction"] == k == first.attrs["subspace_dimension"]
    assert posterior["W_in"].dims == ("chain", "draw", "feature", "hidden")
    assert posterior["W_out"].dims == ("chain", "draw", "hidden", "class")
    if mode == "readout":  # W_in is fixed, W_out is z
        w_in = posterior["W_in"].values
        assert (w_in.max(axis=(0, 1)) == w_in.min(axis=(0, 1))).all()
        np.testing.assert_array_equal(
            posterior["W_out"].values.reshape(2, 20, -1), posterior["z"].values
        )
    # both phases' queries, per chain: one per step and the start point's, in each phase
    queries = first["sample_stats"]["chip_queries"].isel(draw=-1).values
    np.testing.assert_array_equal(queries, [2 + config.mcmc.tune + config.mcmc.draws] * 2)


@pytest.fixture(scope="module")
def pca_run():
    return train(TINY, progressbar=False)


def test_a_subspace_trace_says_its_posterior_is_restricted(pca_run):
    attrs = pca_run.attrs
    assert attrs["subspace"] == "pca:2" and attrs["subspace_dimension"] == 2
    assert attrs["posterior_restricted_to_subspace"] == 1
    assert "principal directions" in attrs["subspace_basis"]
    assert attrs["convergence_verdict"].startswith("POSTERIOR RESTRICTED to the 2-dimensional")
    assert "full-space adaptation phase" in attrs["convergence_verdict"]
    assert np.isfinite(attrs["full_space_ess_bulk_log_likelihood"])
    # the training queries are both phases'
    assert (
        attrs["training_chip_queries"]
        == (attrs["full_space_chip_queries"] + attrs["subspace_chip_queries"])
        == 2 * 82
    )
    tune_own, path, tune_subspace = subspaces.phase_lengths(60)
    assert pca_run["warmup_posterior"].sizes["draw"] == path == 24
    assert (tune_own, tune_subspace) == (24, 12)
    assert pca_run["subspace"]["basis"].dims == ("weight", "direction")
    assert (
        pca_run["warmup_log_likelihood"]["y"].sizes["obs"]
        == pca_run["log_likelihood"]["y"].sizes["obs"]
    )


def test_a_subspace_trace_reads_as_any_other(pca_run, tmp_path, capsys):
    from conftest import untidy_dims

    assert untidy_dims(pca_run) == []
    path = save_trace(pca_run, tmp_path / "run.nc")
    loaded = load_trace(path)
    xr.testing.assert_equal(loaded["subspace"].to_dataset(), pca_run["subspace"].to_dataset())
    assert main(["evaluate", str(path), "--json"]) == 0
    assert "test_accuracy_predictive" in capsys.readouterr().out
    summary = az.summary(loaded, var_names=["z"])
    assert len(summary) == 2


@pytest.mark.parametrize(
    "value, words",
    [
        ("pca:0", "pca:K"),
        ("pca", "pca:K"),
        ("pca:x", "pca:K"),
        ("readout:3", "pca:K"),
        ("sphere:3", "pca:K"),
        ("pca:100000", "above the network's"),
        ("random:100000", "above the network's"),
        ("pca:30", "span at most"),
    ],
)
def test_bad_subspace_values_are_refused_with_one_line(value, words, tmp_path, capsys):
    out = tmp_path / "run.nc"
    assert (
        main(
            [
                "train",
                "--subspace",
                value,
                "--hidden",
                "3",
                "--steps",
                "8",
                "--tune",
                "30",
                "--draws",
                "5",
                "--chains",
                "2",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "fields, words",
    [
        (dict(sampler="metropolis"), "limprob's samplers"),
        (dict(screen="ideal"), "no screen"),
        (dict(tune=5), "at least"),
    ],
)
def test_combinations_that_do_not_fit_are_refused(fields, words):
    with pytest.raises(LimprobError, match=words):
        replace(TINY.mcmc, **fields)


def test_a_checkpoint_is_refused_with_a_subspace(tmp_path, capsys):
    assert (
        main(
            [
                "train",
                "--subspace",
                "pca:2",
                "--checkpoint",
                str(tmp_path / "c"),
                "--out",
                str(tmp_path / "run.nc"),
            ]
        )
        == 2
    )
    assert "checkpoint cannot hold a two-phase subspace run" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []

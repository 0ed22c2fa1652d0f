"""limprob's LOO on log-likelihoods with known tails, where arviz's own LOO raises."""

import arviz_stats
import numpy as np
import pytest
import xarray as xr
from scipy.special import logsumexp

from limprob.inference.compare import compare_traces
from limprob.inference.loo import RobustLOO, robust_loo, robust_loo_pit
from limprob.io import save_trace

CONSTANT_TAIL_ERROR = "All tail values are the same"
pytestmark = pytest.mark.filterwarnings("ignore:Estimated shape parameter of Pareto")

N_CHAINS, N_DRAWS = 2, 500
N_CONSTANT_TAIL, N_NAN_K, N_K_BAD, N_GOOD = 5, 4, 3, 20
# With r_eff ~ 1 and S = 1000 draws, arviz fits the M = 3 sqrt(S / r_eff) ~ 95 largest
# log ratios; the constructions below hold for any 55 < M <= 200.


def synthetic_log_lik(seed=0):
    """Log-likelihood (chain, draw, obs) of N_CONSTANT_TAIL + N_NAN_K + N_K_BAD + N_GOOD
    observations, in that order, and the constant-tail mask.

    * constant tail: 300 draws share the smallest log-likelihood (largest ratio);
    * NaN k: 50 distinct largest log ratios, then 200 tied ones, so a quarter of the fitted
      tail sits exactly at the cutoff and arviz's GPD fit returns NaN;
    * bad k: ratios r = U^(-2), a Pareto tail with shape k = 2;
    * good: log-likelihood -1 + 0.1 z, z ~ N(0, 1).
    """
    rng = np.random.default_rng(seed)
    n_samples = N_CHAINS * N_DRAWS

    def constant_tail():
        log_ratio = 3 - 0.5 * np.abs(rng.normal(size=n_samples)) - 1e-3
        log_ratio[:300] = 3.0
        return log_ratio

    def tied_tail():
        log_ratio = 2.5 - np.abs(rng.normal(size=n_samples)) - 1e-3
        log_ratio[:50] = 3 + rng.random(50)
        log_ratio[50:250] = 2.5
        return log_ratio

    columns = (
        [-constant_tail() for _ in range(N_CONSTANT_TAIL)]
        + [-tied_tail() for _ in range(N_NAN_K)]
        + [2 * np.log(rng.random(n_samples)) for _ in range(N_K_BAD)]
        + [-1 + 0.1 * rng.normal(size=n_samples) for _ in range(N_GOOD)]
    )
    log_lik = np.stack([rng.permutation(c) for c in columns], axis=-1)
    constant = np.arange(log_lik.shape[-1]) < N_CONSTANT_TAIL
    return log_lik.reshape(N_CHAINS, N_DRAWS, -1), constant


def trace_from_log_lik(log_lik, seed=1):
    """Minimal trace: an iid posterior (so r_eff ~ 1) and the given log-likelihood."""
    rng = np.random.default_rng(seed)
    dims = ("chain", "draw")
    return xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset({"theta": (dims, rng.normal(size=log_lik.shape[:2]))}),
            "log_likelihood": xr.Dataset({"y": (dims + ("obs",), log_lik)}),
            "observed_data": xr.Dataset({"y": ("obs", np.zeros(log_lik.shape[-1]))}),
        }
    )


@pytest.fixture(scope="module")
def synthetic():
    log_lik, constant = synthetic_log_lik()
    return trace_from_log_lik(log_lik), log_lik, constant


def test_counts_on_synthetic_tails(synthetic):
    tree, log_lik, constant = synthetic
    with pytest.raises(ValueError, match=CONSTANT_TAIL_ERROR):
        arviz_stats.loo(tree)
    result = robust_loo(tree)
    assert isinstance(result, RobustLOO)
    assert (result.n_constant_tail, result.n_nan_k, result.n_k_bad) == (
        N_CONSTANT_TAIL,
        N_NAN_K,
        N_K_BAD,
    )
    np.testing.assert_array_equal(result.constant_tail.values, constant)
    n_no_k = N_CONSTANT_TAIL + N_NAN_K
    np.testing.assert_array_equal(
        np.isnan(result.pareto_k.values), np.arange(constant.size) < n_no_k
    )
    assert np.all(result.pareto_k.values[n_no_k + N_K_BAD :] <= result.good_k)
    # plain importance sampling where the tail is constant: elpd_i = -log mean_s exp(-log_lik)
    ll_constant = log_lik[..., constant].reshape(-1, N_CONSTANT_TAIL)
    np.testing.assert_allclose(
        result.elpd_i.values[constant], np.log(len(ll_constant)) - logsumexp(-ll_constant, axis=0)
    )
    assert np.isfinite(result.elpd) and np.isfinite(result.se)
    assert f"{N_K_BAD} of {constant.size} observations have Pareto k >" in result.warning_text
    assert (
        f"{N_CONSTANT_TAIL} of {constant.size} observations have a constant" in result.warning_text
    )
    assert "LOO is meaningless" not in result.warning_text  # iid draws, converged


def test_equals_arviz_without_constant_tails(synthetic):
    tree, log_lik, constant = synthetic
    tree = trace_from_log_lik(log_lik[..., ~constant])
    expected = arviz_stats.loo(tree, pointwise=True)
    result = robust_loo(tree)
    assert result.n_constant_tail == 0
    assert abs(result.elpd - expected.elpd) < 1e-6
    assert abs(result.se - expected.se) < 1e-6 and abs(result.p - expected.p) < 1e-6
    np.testing.assert_allclose(result.elpd_i, expected.elpd_i, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(result.pareto_k, expected.pareto_k)


def test_compare_traces_succeeds_where_arviz_raises_and_reports_the_counts(synthetic, tmp_path):
    _, log_lik, _ = synthetic
    paths = []
    for name, shift in (("sharper", 0.0), ("flatter", -0.3)):
        tree = trace_from_log_lik(log_lik + shift)
        tree.attrs["limprob_trace"] = 1
        paths.append(save_trace(tree, tmp_path / f"{name}.nc"))
    table = compare_traces(paths)
    assert list(table.index) == ["sharper", "flatter"]
    assert table.loc["sharper", "elpd"] > table.loc["flatter", "elpd"]
    for name in table.index:
        assert table.loc[name, "n_constant_tail"] == N_CONSTANT_TAIL
        assert table.loc[name, "n_nan_k"] == N_NAN_K
        assert table.loc[name, "pareto_k_bad"] == N_K_BAD
        assert np.isfinite(table.loc[name, "pareto_k_max"])
        assert "constant upper tail" in table.attrs["warnings"][name]


def with_replicates(tree, seed=2):
    """``tree`` with labels 0/1 observed and replicated on the log-likelihood's draws."""
    rng = np.random.default_rng(seed)
    shape = tree["log_likelihood"]["y"].shape
    tree = tree.copy()
    tree["observed_data"] = xr.Dataset({"y": ("obs", rng.integers(0, 2, shape[-1]))})
    tree["posterior_predictive"] = xr.Dataset(
        {"y": (("chain", "draw", "obs"), rng.integers(0, 2, shape))}
    )
    return tree


def test_loo_pit_survives_constant_tails_and_equals_arviz_elsewhere(synthetic):
    tree, log_lik, constant = synthetic
    tree = with_replicates(tree)
    with pytest.raises(ValueError, match=CONSTANT_TAIL_ERROR):
        arviz_stats.loo_pit(tree)
    pit = robust_loo_pit(tree)["y"]
    assert pit.dims == ("obs",) and np.all((pit >= 0) & (pit <= 1))
    # where no tail is constant, the same weights and the same tie-breaking draws as arviz
    rest = with_replicates(trace_from_log_lik(log_lik[..., ~constant]))
    np.testing.assert_allclose(
        robust_loo_pit(rest)["y"], arviz_stats.loo_pit(rest)["y"], rtol=0, atol=1e-12
    )

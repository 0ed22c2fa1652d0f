"""Function-space convergence diagnostics, on synthetic traces of a small tanh network."""

import numpy as np
import pytest
import xarray as xr
from arviz_stats import rhat
from scipy.special import log_softmax

from limprob.inference.diagnostics import function_space_diagnostics, verdict

N_CHAINS, N_DRAWS, N_INPUT, N_HIDDEN, N_OUTPUT = 2, 500, 3, 5, 2
N_TRAIN, N_TEST, THIN = 40, 15, 4

rng_data = np.random.default_rng(0)
X_TRAIN = rng_data.normal(size=(N_TRAIN, N_INPUT))
Y_TRAIN = rng_data.integers(0, N_OUTPUT, N_TRAIN)
X_TEST = rng_data.normal(size=(N_TEST, N_INPUT))
W_IN_0 = rng_data.normal(size=(N_INPUT, N_HIDDEN))
W_OUT_0 = rng_data.normal(size=(N_HIDDEN, N_OUTPUT))


def log_class_probabilities(x, w_in, w_out):
    """log p(class | x, W) of a one-hidden-layer tanh network, dims (chain, draw, obs, class)."""
    hidden = np.tanh(np.einsum("oi,cdih->cdoh", x, w_in))
    return log_softmax(np.einsum("cdoh,cdhk->cdok", hidden, w_out), axis=-1)


def network_trace(w_in, w_out):
    """A limprob-like trace (posterior, log_likelihood, observed_data, predictions) whose
    log-likelihood and predictions are computed from the sampled weights."""
    log_lik = np.take_along_axis(
        log_class_probabilities(X_TRAIN, w_in, w_out), Y_TRAIN[None, None, :, None], axis=-1
    )[..., 0]
    draws = np.arange(0, w_in.shape[1], THIN)
    probability = np.exp(log_class_probabilities(X_TEST, w_in[:, draws], w_out[:, draws]))
    sample = {"chain": np.arange(w_in.shape[0]), "draw": np.arange(w_in.shape[1])}
    return xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset(
                {
                    "W_in": (("chain", "draw", "feature", "hidden"), w_in),
                    "W_out": (("chain", "draw", "hidden", "class"), w_out),
                },
                coords=sample,
            ),
            "log_likelihood": xr.Dataset({"y": (("chain", "draw", "obs"), log_lik)}, coords=sample),
            "observed_data": xr.Dataset({"y": ("obs", Y_TRAIN)}),
            "predictions": xr.Dataset(
                {"probability": (("chain", "draw", "obs", "class"), probability)},
                coords={"chain": sample["chain"], "draw": draws},
            ),
        }
    )


def well_mixed_weights(seed=1):
    """Independent normal draws around one network: every chain samples the same posterior."""
    rng = np.random.default_rng(seed)
    w_in = W_IN_0 + 0.3 * rng.normal(size=(N_CHAINS, N_DRAWS, N_INPUT, N_HIDDEN))
    w_out = W_OUT_0 + 0.3 * rng.normal(size=(N_CHAINS, N_DRAWS, N_HIDDEN, N_OUTPUT))
    return w_in, w_out


def stuck_weights(seed=2):
    """Random walks with tiny steps, each chain at its own level: nothing has converged."""
    rng = np.random.default_rng(seed)

    def walk(w0, shape):
        offsets = 0.5 * rng.normal(size=(N_CHAINS, 1, *shape))
        steps = 1e-3 * rng.normal(size=(N_CHAINS, N_DRAWS, *shape))
        return w0 + offsets + np.cumsum(steps, axis=1)

    return walk(W_IN_0, (N_INPUT, N_HIDDEN)), walk(W_OUT_0, (N_HIDDEN, N_OUTPUT))


def permute_hidden_units(w_in, w_out, seed=3):
    """Relabel the hidden units of every draw with its own random permutation."""
    rng = np.random.default_rng(seed)
    perm = np.argsort(rng.random(w_in.shape[:2] + (N_HIDDEN,)), axis=-1)  # (chain, draw, hidden)
    return (
        np.take_along_axis(w_in, perm[:, :, None, :], axis=-1),
        np.take_along_axis(w_out, perm[:, :, :, None], axis=-2),
    )


def max_weight_rhat(tree):
    weights_rhat = rhat(tree["posterior"].to_dataset())
    return max(float(weights_rhat[name].max()) for name in weights_rhat.data_vars)


@pytest.fixture(scope="module")
def stuck_trees():
    w_in, w_out = stuck_weights()
    return network_trace(w_in, w_out), network_trace(*permute_hidden_units(w_in, w_out))


def test_diagnostics_invariant_to_hidden_unit_permutation(stuck_trees):
    tree, permuted = stuck_trees
    # the functions are unchanged (up to the summation order over the hidden units) ...
    np.testing.assert_allclose(
        permuted["log_likelihood"]["y"], tree["log_likelihood"]["y"], rtol=1e-12
    )
    np.testing.assert_allclose(
        permuted["predictions"]["probability"], tree["predictions"]["probability"], rtol=1e-12
    )
    # ... so the function-space diagnostics are identical ...
    xr.testing.assert_allclose(
        function_space_diagnostics(permuted), function_space_diagnostics(tree), rtol=1e-9
    )
    assert not verdict(function_space_diagnostics(permuted))[0]
    # ... while the weight-space R-hat changes: relabelling makes stuck chains look far better
    rhat_weights, rhat_weights_permuted = max_weight_rhat(tree), max_weight_rhat(permuted)
    assert rhat_weights > 2  # 2.85
    assert rhat_weights_permuted < 1.3  # 1.14


def test_verdict_well_mixed_trace_converged():
    diagnostics = function_space_diagnostics(network_trace(*well_mixed_weights()))
    converged, message = verdict(diagnostics)
    assert converged, message
    assert message.startswith("converged:")
    assert int(diagnostics["n_chains"]) == N_CHAINS
    assert int(diagnostics["n_draws"]) == N_DRAWS
    assert int(diagnostics["n_predictive_entries"]) == N_TEST * N_OUTPUT
    assert int(diagnostics["n_predictive_constant"]) == 0


def test_verdict_stuck_trace_warns(stuck_trees):
    diagnostics = function_space_diagnostics(stuck_trees[0])
    converged, message = verdict(diagnostics)
    assert not converged
    assert message.startswith("WARNING: the chains have not converged in function space")
    assert "run more draws" in message
    assert float(diagnostics["rhat_log_likelihood"]) > 1.05
    assert float(diagnostics["ess_bulk_log_likelihood"]) < 100


def test_constant_predictions_are_ignored_and_counted():
    tree = network_trace(*well_mixed_weights())
    probability = tree["predictions"]["probability"].copy()
    probability[:, :, 0, :] = 0.5  # one test observation predicted identically by every draw
    tree["predictions"] = tree["predictions"].to_dataset().assign(probability=probability)
    diagnostics = function_space_diagnostics(tree)
    assert int(diagnostics["n_predictive_constant"]) == N_OUTPUT
    assert np.isfinite(float(diagnostics["ess_bulk_predictive_min"]))
    assert verdict(diagnostics)[0]


def test_verdict_one_chain_says_rhat_undefined():
    w_in, w_out = well_mixed_weights()
    diagnostics = function_space_diagnostics(network_trace(w_in[:1], w_out[:1]))
    assert np.isnan(float(diagnostics["rhat_log_likelihood"]))
    converged, message = verdict(diagnostics)
    assert not converged
    assert message.startswith("UNKNOWN: only one chain, so R-hat is not defined")

"""Measuring trained weights on a chip: accuracy, the point estimate W*, test predictions.

Every function that runs weights on a chip spends one query per weight set and says so; the
others read a trace's posterior and log-likelihood. Class probabilities are those of the model,
``softmax(kappa c / T)`` of the chip's spike counts ``c`` (:mod:`limprob.likelihood`).
"""

from __future__ import annotations

from typing import cast

import numpy as np
import xarray as xr

from limprob.chip.protocol import Chip
from limprob.inference.diagnostics import REPORTED
from limprob.likelihood.chip_likelihood import class_probabilities


def evaluate_weights(
    chip: Chip, w_in: np.ndarray, w_out: np.ndarray, test: xr.Dataset, kappa: float
) -> np.ndarray:
    """Class probabilities (obs, class) of the test samples on ``chip``: one query."""
    counts = chip.run(w_in, w_out, test["features"].values)
    return class_probabilities(counts, kappa, chip.network.n_steps)


def project_evaluation(
    chip: Chip,
    w_in: np.ndarray,
    w_out: np.ndarray,
    test: xr.Dataset,
    max_memory: float | None = None,
    long_seconds: float = 60.0,
) -> float:
    """Projected wall time (s) of :func:`evaluate_weights` on ``test``: a query of its first
    sample, timed (the second of two: the first may compile), times its samples; announced on
    stderr (one line) above ``long_seconds``. Refused first (:class:`LimprobError`) when the
    query's inputs, membrane potentials and counts, 8 x obs x (inputs + 2 x (hidden +
    outputs)) bytes, exceed ``max_memory`` (default: the memory available)."""
    import logging

    from limprob.inference import cost

    n_obs, n_inputs = test["features"].shape
    n_hidden, n_outputs = w_in.shape[1], w_out.shape[1]
    cost.check_memory(
        8 * n_obs * (n_inputs + 2 * (n_hidden + n_outputs)), "this evaluation", max_memory
    )
    seconds = cost.seconds_per_query(chip, w_in, w_out, test["features"].values[:1]) * n_obs
    if seconds > long_seconds:
        logging.getLogger("limprob").warning(
            f"limprob: the evaluation will take about {cost.duration(seconds)} ({n_obs} test "
            f"samples x {chip.network.n_steps} time steps); SIGINT or SIGTERM stops it"
        )
    return seconds


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of samples whose most probable class is their label."""
    return float(np.mean(np.argmax(probabilities, axis=-1) == labels))


def mean_accuracy(
    chip: Chip, w_in: np.ndarray, w_out: np.ndarray, test: xr.Dataset, kappa: float, queries: int
) -> float:
    """The test accuracy of one weight set averaged over ``queries`` queries of ``chip`` (on a
    noisy chip each query draws fresh noise; on a deterministic one they all agree)."""
    labels = test["labels"].values
    return float(
        np.mean(
            [
                accuracy(evaluate_weights(chip, w_in, w_out, test, kappa), labels)
                for _ in range(queries)
            ]
        )
    )


def thinned_draws(posterior: xr.Dataset, n: int) -> xr.Dataset:
    """At most ``n`` posterior draws, evenly spaced over the draws of every chain."""
    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    per_chain = max(1, min(n_draw, n // n_chain))
    index = np.unique(np.linspace(0, n_draw - 1, per_chain).round().astype(int))
    return posterior.isel(draw=index)


def total_log_likelihood(log_likelihood: xr.Dataset) -> xr.DataArray:
    """The training log-likelihood of each draw (chain, draw), summed over observations and
    observed variables (nats)."""
    return cast(
        xr.DataArray, sum(log_likelihood[name].sum("obs") for name in log_likelihood.data_vars)
    )


def best_chain(log_likelihood: xr.Dataset) -> int:
    """The chain with the highest mean training log-likelihood (summed over observations)."""
    return int(total_log_likelihood(log_likelihood).mean("draw").argmax("chain"))


POINT_ESTIMATES = ("mean", "best", "last")
"""The point estimates of the weights a trace measures: ``mean``, W*, the posterior mean within
the best chain; ``best``, the visited draw with the highest training log-likelihood; ``last``,
the last draw of the best chain."""
POINT_ESTIMATE_DESCRIPTIONS = {
    "mean": "W*, the posterior mean of the best chain",
    "best": "the best visited draw",
    "last": "the last draw of the best chain",
}
"""Each of :data:`POINT_ESTIMATES` in words."""


def posterior_mean_weights(
    posterior: xr.Dataset, log_likelihood: xr.Dataset
) -> tuple[np.ndarray, np.ndarray]:
    """W*: the posterior mean of ``W_in`` and ``W_out`` within the best chain.

    Chains of this posterior settle in different modes (permuting hidden neurons, or flipping
    signs, leaves the network's function unchanged), so an average across chains is a point in
    no mode. The mean of the chain that fits the training data best (:func:`best_chain`) is.
    """
    return point_estimate_weights(posterior, log_likelihood, "mean")


def point_estimate_weights(
    posterior: xr.Dataset, log_likelihood: xr.Dataset, which: str
) -> tuple[np.ndarray, np.ndarray]:
    """``W_in``, ``W_out`` of the point estimate ``which`` (one of :data:`POINT_ESTIMATES`).

    Within a chain that is still climbing, the mean lags behind the chain's best and last
    points, which is why all three are measured.
    """
    if which == "best":
        total = total_log_likelihood(log_likelihood)
        best_chain_index, best_draw = np.unravel_index(int(np.argmax(total.values)), total.shape)
        point = posterior.isel(chain=int(best_chain_index), draw=int(best_draw))
        return point["W_in"].values, point["W_out"].values
    chain = posterior.isel(chain=best_chain(log_likelihood))
    if which == "last":
        return chain["W_in"].isel(draw=-1).values, chain["W_out"].isel(draw=-1).values
    return chain["W_in"].mean("draw").values, chain["W_out"].mean("draw").values


def predictions(
    chip: Chip, posterior: xr.Dataset, test: xr.Dataset, kappa: float, predictive_draws: int
) -> xr.Dataset:
    """Test-set class probabilities ``probability`` (chain, draw, obs, class) on ``chip`` for a
    thinned set of posterior draws (:func:`thinned_draws`); one query per draw."""
    thinned = thinned_draws(posterior, predictive_draws)
    per_draw = np.stack(
        [
            np.stack(
                [
                    evaluate_weights(
                        chip,
                        thinned["W_in"].values[c, d],
                        thinned["W_out"].values[c, d],
                        test,
                        kappa,
                    )
                    for d in range(thinned.sizes["draw"])
                ]
            )
            for c in range(thinned.sizes["chain"])
        ]
    )
    return xr.Dataset(
        {"probability": (("chain", "draw", "obs", "class"), per_draw)},
        coords={
            "chain": thinned["chain"].values,
            "draw": thinned["draw"].values,
            "obs": test["obs"].values,
            "class": posterior["class"].values,
        },
    )


def point_predictions(
    chip: Chip, posterior: xr.Dataset, log_likelihood: xr.Dataset, test: xr.Dataset, kappa: float
) -> xr.Dataset:
    """Test-set class probabilities ``probability`` (point_estimate, obs, class) on ``chip``
    for each point estimate of :data:`POINT_ESTIMATES`; one query each. They are not draws,
    so they live in a group of their own (``point_estimates``), without chain and draw."""
    points = np.stack(
        [
            evaluate_weights(
                chip, *point_estimate_weights(posterior, log_likelihood, which), test, kappa
            )
            for which in POINT_ESTIMATES
        ]
    )
    return point_dataset(points, list(POINT_ESTIMATES), test)


def point_dataset(probability: np.ndarray, names: list[str], test: xr.Dataset) -> xr.Dataset:
    """The ``point_estimates`` group: ``probability`` (point_estimate, obs, class) of the
    point estimates ``names`` on the test table ``test``."""
    return xr.Dataset(
        {"probability": (("point_estimate", "obs", "class"), probability)},
        coords={"point_estimate": names, "obs": test["obs"].values, "class": test["class"].values},
    )


ACCURACY_NAMES = {"mean": "posterior_mean", "best": "best_draw", "last": "last_draw"}
"""The attribute suffix of each point estimate's test accuracy (W* is
``test_accuracy_posterior_mean``)."""


def test_accuracies(
    points: xr.DataArray, labels: np.ndarray, predicted: xr.Dataset | None = None
) -> dict[str, float | None]:
    """Accuracy of each point estimate in ``points`` (point_estimate, obs, class) and, given
    the thinned draws' ``predicted`` probabilities, of their predictive average (class
    probabilities averaged over the draws: the headline, ``test_accuracy_predictive``; None
    without draws)."""
    predictive = None
    if predicted is not None:
        predictive = accuracy(predicted["probability"].mean(("chain", "draw")).values, labels)
    return {
        "test_accuracy_predictive": predictive,
        **{
            f"test_accuracy_{ACCURACY_NAMES[str(which)]}": accuracy(
                points.sel(point_estimate=which).values, labels
            )
            for which in points["point_estimate"].values
        },
    }


def trace_evaluation(tree: xr.DataTree) -> dict:
    """What ``limprob evaluate`` reports of a training trace: the test accuracy from its stored
    predictions and point estimates (measured on the chip at training time), for MH the
    function-space convergence diagnostics recorded then, its chip queries, its chip and its
    method."""
    labels = cast(xr.DataArray, tree["predictions_constant_data"]["y"]).values
    method = str(tree.attrs.get("method", "mh"))
    # backprop: one trained weight set, W*, and no draws to average
    draws = tree["predictions"].to_dataset() if "predictions" in tree.children else None
    accuracies = test_accuracies(
        cast(xr.DataArray, tree["point_estimates"]["probability"]), labels, draws
    )
    diagnostics = {name: float(tree.attrs[name]) for name in REPORTED if name in tree.attrs}
    return {
        **accuracies,
        **diagnostics,
        "chip_queries": int(tree.attrs["training_chip_queries"]),
        "evaluation_chip_queries": int(tree.attrs["evaluation_chip_queries"]),
        "chip": str(tree.attrs.get("chip", "")),
        # a simulated chip's; None for a chip that does not describe them
        "chip_strength": (
            float(tree.attrs["chip_strength"]) if "chip_strength" in tree.attrs else None
        ),
        "chip_seed": int(tree.attrs["chip_seed"]) if "chip_seed" in tree.attrs else None,
        "method": method,
        "sampler": str(tree.attrs.get("sampler", "")),
    }

"""The picture of a training trace: progress against chip queries, and the rank plot.

Three panels, one colour per chain throughout:

(a) the training log-likelihood of each draw, :math:`\\ell^{(s)} = \\sum_i \\log p(y_i \\mid
    W^{(s)})` (nats), against the chip queries the chain had made by then
    (``sample_stats/chip_queries``, cumulative per chain, tuning included);
(b) the test accuracy of each posterior draw that carries test predictions
    (``predictions/probability``, a thinned subset), against the same axis, with the accuracy of
    the predictive average as a labelled line (only for traces with such predictions);
(c) arviz-plots' rank plot (fractional-rank Δ-ECDF) of :math:`\\ell^{(s)}`, the function-space
    quantity of :mod:`limprob.inference.diagnostics`, titled with its R-hat and bulk ESS: if the
    chains sample the same distribution each line stays inside the band.

Drawn with matplotlib's Agg backend and written atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from limprob.errors import LimprobError
from limprob.inference.diagnostics import function_space_diagnostics, function_space_draws
from limprob.io import check_output_path, write_atomically


def draw_accuracies(tree: xr.DataTree) -> xr.DataArray | None:
    """Test accuracy (chain, draw) of the draws in ``predictions/probability``, or None when
    the trace has no per-draw test predictions."""
    if "predictions" not in tree.children or "probability" not in tree["predictions"]:
        return None
    probability = tree["predictions"]["probability"]
    if not {"chain", "draw"} <= set(probability.dims):
        return None
    labels = xr.DataArray(tree["predictions_constant_data"]["y"].values, dims="obs")
    return (probability.argmax("class") == labels).mean("obs")


def check_plottable(tree: xr.DataTree, name: str = "trace") -> None:
    """:class:`LimprobError` unless ``tree`` has what the figure needs."""
    if "log_likelihood" not in tree.children or "y" not in tree["log_likelihood"]:
        raise LimprobError(f"{name}: no log_likelihood group with y (not an MCMC training trace)")
    if "sample_stats" not in tree.children or "chip_queries" not in tree["sample_stats"]:
        raise LimprobError(f"{name}: no sample_stats/chip_queries (not a chip-in-the-loop "
                           f"training trace)")


def plot_training(tree: xr.DataTree, name: str = "trace"):
    """The three-panel matplotlib figure of a training trace (module docstring)."""
    import matplotlib

    matplotlib.use("Agg")
    import arviz_plots as azp

    check_plottable(tree, name)
    draws = function_space_draws(tree)
    log_likelihood = draws["log_likelihood"]
    queries = tree["sample_stats"]["chip_queries"]
    n_chains = log_likelihood.sizes["chain"]
    rank = azp.plot_rank(xr.DataTree.from_dict({"posterior": draws}), backend="matplotlib",
                         method="mtc_c" if n_chains > 1 else "envelope")
    figure = rank.viz["figure"].item()
    rank_axes = rank.viz["plot"]["log_likelihood"].item()
    colours = [line.get_color() for line in
               np.ravel(rank.viz["ecdf_lines"]["log_likelihood"].values)]
    if len(colours) != n_chains:
        colours = [f"C{c}" for c in range(n_chains)]

    figure.set_size_inches(15, 4.4)
    grid = figure.add_gridspec(1, 3, left=0.06, right=0.98, bottom=0.14, top=0.86, wspace=0.3)
    rank_axes.set_position(grid[0, 2].get_position(figure))
    progress, accuracy_axes = figure.add_subplot(grid[0, 0]), figure.add_subplot(grid[0, 1])

    chains = log_likelihood["chain"].values
    for c, colour in zip(range(n_chains), colours):
        progress.plot(queries.isel(chain=c).values, log_likelihood.isel(chain=c).values,
                      color=colour, lw=1, drawstyle="steps-post", label=f"chain {chains[c]}")
    progress.set(xlabel="chip queries (cumulative per chain)",
                 ylabel="training log-likelihood (nats)",
                 title="(a) fit to the training data")
    progress.legend(fontsize=8)

    accuracies = draw_accuracies(tree)
    if accuracies is None:
        accuracy_axes.text(0.5, 0.5, "no per-draw test predictions in this trace",
                           ha="center", va="center", transform=accuracy_axes.transAxes)
        accuracy_axes.set_axis_off()
    else:
        at = queries.sel(draw=accuracies["draw"].values)
        for c, colour in zip(range(n_chains), colours):
            accuracy_axes.plot(at.isel(chain=c).values, accuracies.isel(chain=c).values,
                               marker="o", ms=4, lw=1, color=colour, label=f"chain {chains[c]}")
        predictive = tree.attrs.get("test_accuracy_predictive")
        if predictive is not None:
            accuracy_axes.axhline(float(predictive), color="0.3", ls="--", lw=1,
                                  label=f"predictive average {float(predictive):.3f}")
        accuracy_axes.set(xlabel="chip queries (cumulative per chain)",
                          ylabel="test accuracy of the draw",
                          title="(b) test accuracy of thinned draws")
        accuracy_axes.legend(fontsize=8)

    diagnostics = function_space_diagnostics(tree)
    rhat = float(diagnostics["rhat_log_likelihood"])
    rank_axes.set_title("(c) rank plot of the training log-likelihood\n"
                        f"R-hat {rhat:.2f}, bulk ESS "
                        f"{float(diagnostics['ess_bulk_log_likelihood']):.1f} of "
                        f"{log_likelihood.size} draws" if np.isfinite(rhat) else
                        "(c) rank plot of the training log-likelihood\n(one chain: no R-hat)",
                        fontsize=10)
    strength = tree.attrs.get("chip_strength")
    figure.suptitle(f"{name}: {tree.attrs.get('sampler', tree.attrs.get('method', ''))}, "
                    f"{n_chains} chain(s) x {log_likelihood.sizes['draw']} draws"
                    + (f", chip strength {strength}" if strength is not None else ""),
                    fontsize=11)
    return figure


def save_training_plot(tree: xr.DataTree, path: str | Path, name: str = "trace") -> Path:
    """Draw :func:`plot_training` and write it to ``path`` as PNG, atomically."""
    import matplotlib.pyplot as plt

    path = check_output_path(path)
    figure = plot_training(tree, name)
    try:
        return write_atomically(path, lambda temporary: figure.savefig(temporary, format="png",
                                                                       dpi=110))
    finally:
        plt.close(figure)

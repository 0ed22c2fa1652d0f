"""The pictures of traces: a training trace's progress and rank plot, and a LOO comparison.

:func:`plot_training` draws three panels, one colour per chain throughout:

(a) the training log-likelihood of each draw, :math:`\\ell^{(s)} = \\sum_i \\log p(y_i \\mid
    W^{(s)})` (nats), against the chip queries the chain had made by then
    (``sample_stats/chip_queries``, cumulative per chain, tuning included);
(b) the test accuracy of each posterior draw that carries test predictions
    (``predictions/probability``, a thinned subset), against the same axis, with the accuracy of
    the predictive average as a labelled line and its 95 % Wilson interval over the test
    samples, and the test labels' chance level (majority class; only for traces with such
    predictions);
(c) arviz-plots' rank plot (fractional-rank Δ-ECDF) of :math:`\\ell^{(s)}`, the function-space
    quantity of :mod:`limprob.inference.diagnostics`, titled with its R-hat and bulk ESS: if the
    chains sample the same distribution each line stays near 0, and the multi-chain uniformity
    test marks the ranks that break it. A one-chain trace gets a note instead: ranks within
    one chain are uniform by construction.

:func:`plot_elpd_comparison` draws each model's PSIS-LOO ELPD difference to the best model
with one standard error of that difference, as ``limprob compare --plot`` writes it.

Names, chance level, intervals and resolution follow :mod:`limprob.inference.figure_style`.
Drawn with matplotlib's Agg backend and written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
import xarray as xr

from limprob.errors import LimprobError
from limprob.inference.diagnostics import (
    function_space_diagnostics,
    function_space_draws,
)
from limprob.inference.figure_style import (
    LEVEL,
    accuracy_limits,
    draw_chance,
    majority_rate,
    method_label,
    save_figure,
    wilson_interval,
)
from limprob.io import check_output_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


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
        raise LimprobError(
            f"{name}: no sample_stats/chip_queries (not a chip-in-the-loop training trace)"
        )


def plot_training(tree: xr.DataTree, name: str = "trace") -> Figure:
    """The three-panel matplotlib figure of a training trace (module docstring)."""
    import matplotlib

    matplotlib.use("Agg")
    import arviz_plots as azp
    import matplotlib.pyplot as plt

    check_plottable(tree, name)
    draws = function_space_draws(tree)
    log_likelihood = draws["log_likelihood"]
    queries = cast(xr.DataArray, tree["sample_stats"]["chip_queries"])
    n_chains = log_likelihood.sizes["chain"]
    if n_chains > 1:
        rank = azp.plot_rank(
            xr.DataTree.from_dict({"posterior": draws}),
            backend="matplotlib",
            method="mtc_c",
            visuals={"remove_axis": False},
        )
        figure = rank.viz["figure"].item()
        rank_axes = rank.viz["plot"]["log_likelihood"].item()
        colours = [
            line.get_color() for line in np.ravel(rank.viz["ecdf_lines"]["log_likelihood"].values)
        ]
    else:
        rank, figure, rank_axes, colours = None, plt.figure(), None, ["C0"]
    if len(colours) != n_chains:
        colours = [f"C{c}" for c in range(n_chains)]

    figure.set_size_inches(15, 4.8)
    grid = figure.add_gridspec(1, 3, left=0.055, right=0.985, bottom=0.13, top=0.83, wspace=0.28)
    if rank_axes is None:
        rank_axes = figure.add_subplot(grid[0, 2])
    else:
        rank_axes.set_position(grid[0, 2].get_position(figure))
    progress, accuracy_axes = figure.add_subplot(grid[0, 0]), figure.add_subplot(grid[0, 1])

    chains = log_likelihood["chain"].values
    for c, colour in zip(range(n_chains), colours):
        progress.plot(
            queries.isel(chain=c).values,
            log_likelihood.isel(chain=c).values,
            color=colour,
            lw=1,
            drawstyle="steps-post",
            label=f"chain {chains[c]}",
        )
    progress.set(
        xlabel="chip queries (cumulative per chain)",
        ylabel="training log-likelihood ℓ (nats)",
        title="(a) fit to the training data",
    )
    progress.legend(fontsize=8)

    accuracies = draw_accuracies(tree)
    if accuracies is None:
        accuracy_axes.text(
            0.5,
            0.5,
            "no per-draw test predictions in this trace",
            ha="center",
            va="center",
            transform=accuracy_axes.transAxes,
        )
        accuracy_axes.set_axis_off()
    else:
        draw_test_accuracy(accuracy_axes, tree, accuracies, queries, colours)

    if rank is None:
        rank_axes.text(
            0.5,
            0.5,
            "(c) one chain: ranks among its own draws are uniform\n"
            "by construction, so no rank plot and no R-hat",
            ha="center",
            va="center",
            transform=rank_axes.transAxes,
        )
        rank_axes.set_axis_off()
    else:
        draw_rank_panel(rank, rank_axes, tree, log_likelihood, colours)
    strength = tree.attrs.get("chip_strength")
    method = method_label(str(tree.attrs.get("method", "mh")), tree.attrs.get("sampler"))
    figure.suptitle(
        f"{name}: {method}, {n_chains} chain{'s' if n_chains > 1 else ''} × "
        f"{log_likelihood.sizes['draw']} draws"
        + (f", chip distortion strength α = {float(strength):g}" if strength is not None else ""),
        fontsize=11,
    )
    return figure


def draw_test_accuracy(
    ax: Axes,
    tree: xr.DataTree,
    accuracies: xr.DataArray,
    queries: xr.DataArray,
    colours: Sequence[str],
) -> None:
    """Panel (b): each thinned draw's test accuracy per chain, the predictive average with its
    Wilson interval over the test samples, and the test labels' chance level."""
    at = queries.sel(draw=accuracies["draw"].values)
    chains = accuracies["chain"].values
    for c, colour in zip(range(len(chains)), colours):
        ax.plot(
            at.isel(chain=c).values,
            accuracies.isel(chain=c).values,
            marker="o",
            ms=3.5,
            lw=1,
            color=colour,
            label=f"chain {chains[c]}: one thinned draw",
        )
    labels = cast(xr.DataArray, tree["predictions_constant_data"]["y"]).values
    chance = majority_rate(labels)
    predictive = tree.attrs.get("test_accuracy_predictive")
    if predictive is not None:
        predictive = float(predictive)
        low, high = wilson_interval(round(predictive * labels.size), labels.size)
        ax.axhspan(
            float(low),
            float(high),
            color="0.5",
            alpha=0.15,
            lw=0,
            label=f"its {LEVEL:.0%} Wilson interval ({labels.size} test samples)",
        )
        ax.axhline(
            predictive, color="0.25", ls="--", lw=1, label=f"predictive average {predictive:.3f}"
        )
    draw_chance(ax, chance)
    accuracy_limits(ax, accuracies.values, chance=chance)
    ax.set(
        xlabel="chip queries (cumulative per chain)",
        ylabel="test accuracy on the chip",
        title="(b) test accuracy of thinned draws",
    )
    ax.legend(fontsize=7, loc="lower right")


def draw_rank_panel(
    rank: Any, ax: Axes, tree: xr.DataTree, log_likelihood: xr.DataArray, colours: Sequence[str]
) -> None:
    """Panel (c): arviz-plots' rank plot, with axis labels, a legend of what each mark is, and
    the uniformity test's p-value spelt out."""
    import re

    diagnostics = function_space_diagnostics(tree)
    rhat = float(diagnostics["rhat_log_likelihood"])
    for line, _colour, chain in zip(
        np.ravel(rank.viz["ecdf_lines"]["log_likelihood"].values),
        colours,
        log_likelihood["chain"].values,
    ):
        line.set(label=f"chain {chain}", zorder=4, linewidth=1.2)
    suspicious = rank.viz.children.get("suspicious_points")
    if suspicious is not None:
        points = suspicious["log_likelihood"].item()
        points.set(
            color="tab:red",
            sizes=[30],
            alpha=0.35,
            zorder=3,
            linewidths=0,
            label="ranks that fail the multi-chain uniformity test",
        )
    for text in ax.texts:
        found = re.match(r"p\s*=\s*([\d.]+)\s*\(α\s*=\s*([\d.]+)\)", text.get_text())
        if found:
            text.set_text(
                f"uniformity test of the ranks: p = {found[1]} (rejects below α = {found[2]})"
            )
            text.set(fontsize=8, transform=ax.transAxes, position=(0.02, 0.97), ha="left", va="top")
    ax.axhline(0.0, color="0.6", lw=0.8, zorder=0)
    # a Line2D's y data is an array (typed ArrayLike)
    reach = max(
        [np.nanmax(np.abs(line.get_ydata())) for line in ax.lines if len(line.get_ydata())]  # type: ignore[arg-type]
        + [abs(limit) for limit in ax.get_ylim()]
    )
    ax.set_ylim(-1.7 * reach, 1.7 * reach)  # room for the test's text above, the legend below
    ax.set_xlabel("fractional rank of ℓ among all chains' draws")
    ax.set_ylabel("ECDF of the chain's ranks − uniform CDF")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(
        "(c) rank plot of the training log-likelihood ℓ\n"
        f"R-hat {rhat:.2f}, bulk ESS "
        f"{float(diagnostics['ess_bulk_log_likelihood']):.1f} of "
        f"{log_likelihood.size} draws",
        fontsize=10,
    )


def save_training_plot(tree: xr.DataTree, path: str | Path, name: str = "trace") -> Path:
    """Draw :func:`plot_training` and write it to ``path`` as PNG, atomically."""
    path = check_output_path(path)
    return save_figure(plot_training(tree, name), path)


def plot_elpd_comparison(table: pd.DataFrame, title: str | None = None) -> Figure:
    """Each model's PSIS-LOO ELPD difference to the best (``elpd_diff``) with one standard
    error of the difference (``dse``) as a bar; the best model sits at 0, the others below,
    top to bottom from the best. A hollow marker: some observation's Pareto k is above
    :data:`~limprob.inference.compare.PARETO_K_BAD`, so PSIS is unreliable for that model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from limprob.inference.compare import PARETO_K_BAD

    table = table.sort_values("elpd_diff", ascending=True)
    figure, ax = plt.subplots(figsize=(8.5, 0.5 * len(table) + 2.2), layout="constrained")
    rows = np.arange(len(table))
    bad = (
        table["pareto_k_max"].to_numpy(dtype=float) > PARETO_K_BAD
        if "pareto_k_max" in table
        else np.zeros(len(table), bool)
    )
    difference = -np.abs(table["elpd_diff"].to_numpy(dtype=float))
    ax.errorbar(
        difference,
        rows,
        xerr=table["dse"].to_numpy(dtype=float),
        fmt="none",
        ecolor="black",
        capsize=3,
        lw=1.2,
    )
    ax.scatter(
        difference[~bad],
        rows[~bad],
        color="black",
        zorder=3,
        label="ELPD difference, bar ± 1 standard error",
    )
    if bad.any():
        ax.scatter(
            difference[bad],
            rows[bad],
            facecolor="white",
            edgecolor="black",
            zorder=3,
            label=f"same, some Pareto k > {PARETO_K_BAD} (PSIS unreliable)",
        )
    ax.axvline(0.0, color="0.5", ls="--", lw=1)
    ax.set_yticks(rows, [str(name) for name in table.index])
    ax.set_xlabel(
        "ELPD (LOO) minus the best model's, nats (higher is better)\n"
        f"observations: {table.attrs.get('var_name', 'y')}"
    )
    ax.set_ylabel("model")
    ax.set_ylim(-0.6, len(table) - 0.4)
    figure.legend(fontsize=8, loc="outside lower center", ncols=2, frameon=False)
    ax.set_title(title or "Model comparison by PSIS-LOO", fontsize=10, wrap=True)
    return figure


def save_elpd_comparison(table: pd.DataFrame, path: str | Path, title: str | None = None) -> Path:
    """Draw :func:`plot_elpd_comparison` and write it to ``path`` as PNG, atomically."""
    path = check_output_path(path)
    return save_figure(plot_elpd_comparison(table, title), path)

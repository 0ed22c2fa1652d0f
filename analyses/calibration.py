"""Calibration of a training run: LOO-PIT of the training labels, a posterior predictive check
of the class shares, and the reliability of the test-set predictive probabilities.

    .venv/bin/limprob train --out runs/x.nc
    .venv/bin/python analyses/calibration.py runs/x.nc        # writes docs/calibration_loo_pit.png
    .venv/bin/python analyses/calibration.py --replot         # the figure, from the saved values

The figure's values, the Pareto-smoothed LOO-PIT of every training label (what
``az.plot_loo_pit`` draws), are saved in ``analyses/results/calibration_loo_pit.nc`` (dim
``obs``), so ``--replot`` redraws the figure without the trace.

LOO-PIT (``az.loo_pit``): for each training label y_i, the leave-one-out predictive probability
P(y~_i <= y_i | y_-i), from the posterior predictive draws weighted by PSIS; for integer labels
arviz draws it uniformly between P(y~_i < y_i) and P(y~_i <= y_i), so a calibrated model gives
uniform values. The PPC compares the observed share of each class with its share in every
replicated data set (posterior predictive p-value: the fraction of draws whose share is at
least the observed one). The reliability is the expected calibration error of the predictive
average on the test set: the mean over 5 equal-width bins of the top-class probability of
|accuracy - mean probability|, weighted by the bin's share of samples.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import arviz as az
import numpy as np
import xarray as xr
from scipy import stats

from limprob.inference.figure_style import save_figure
from limprob.io import load_trace, save_dataset

ROOT = Path(__file__).resolve().parents[1]
FIGURE = ROOT / "docs" / "calibration_loo_pit.png"
VALUES = ROOT / "analyses" / "results" / "calibration_loo_pit.nc"


def expected_calibration_error(probability: np.ndarray, labels: np.ndarray, bins: int = 5):
    """ECE of class probabilities (obs, class) against labels, over equal-width bins of the
    top-class probability."""
    top = probability.max(axis=-1)
    correct = probability.argmax(axis=-1) == labels
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(top, edges[1:-1]), 0, bins - 1)
    return float(
        sum(
            abs(correct[which == b].mean() - top[which == b].mean()) * np.mean(which == b)
            for b in range(bins)
            if np.any(which == b)
        )
    )


def pareto_loo_pit(tree) -> xr.Dataset:
    """The Pareto-smoothed LOO-PIT of the training labels (dim ``obs``), as
    ``az.plot_loo_pit`` computes them for its ``pot_c`` test."""
    from arviz_stats.loo import loo_pit

    values = loo_pit(tree, pareto_pit=True, var_names=["y"])
    values.attrs = {
        "trace_test_accuracy_predictive": float(tree.attrs.get("test_accuracy_predictive", np.nan)),
        "description": "Pareto-smoothed LOO-PIT of the training labels y "
        "(arviz_stats.loo.loo_pit, pareto_pit=True)",
    }
    return values


def plot_loo_pit(values: xr.Dataset, path):
    """arviz-plots' LOO-PIT Δ-ECDF of ``values`` (from :func:`pareto_loo_pit`), with the
    uniformity test's p-value spelt out and every axis labelled."""
    import re

    import arviz_plots as azp

    plot = azp.plot_ecdf_pit(
        xr.DataTree.from_dict({"loo_pit": values}),
        group="loo_pit",
        sample_dims=["obs"],
        method="pot_c",
        backend="matplotlib",
        visuals={"remove_axis": False, "xlabel": {"text": "LOO-PIT"}},
    )
    figure = plot.viz["figure"].item()
    ax = plot.viz["plot"]["y"].item()
    figure.set_size_inches(7, 3.8)
    for text in ax.texts:
        found = re.match(r"p\s*=\s*([\d.]+)\s*\(α\s*=\s*([\d.]+)\)", text.get_text())
        if found:
            text.set_text(
                f"uniformity test (Pareto-smoothed PIT, pot_c): p = {found[1]}, "
                f"rejects below α = {found[2]}"
            )
            text.set_fontsize(8)
    for line in ax.lines:
        if line.get_linestyle() in ("--", "dashed"):
            line.set_label("uniform: calibrated")
        elif len(line.get_xdata()) > 2:
            line.set_label(f"ECDF of the {values.sizes['obs']} LOO-PIT values − uniform CDF")
    ax.set_xlabel(r"LOO-PIT value $P(\tilde y_i \leq y_i \mid y_{-i})$")
    ax.set_ylabel("ECDF − uniform CDF (Δ-ECDF)")
    ax.set_title("LOO-PIT of the training labels: calibration of the default run", fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    figure.tight_layout()
    return save_figure(figure, path)


def replot(values_path=VALUES, figure=FIGURE):
    """Redraw ``figure`` from the saved LOO-PIT values."""
    with xr.open_dataset(values_path) as values:
        return plot_loo_pit(values.load(), figure)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace", nargs="?", help="a trace written by limprob train")
    parser.add_argument("--figure", default=str(FIGURE), help="LOO-PIT figure to write (PNG)")
    parser.add_argument(
        "--replot",
        action="store_true",
        help=f"redraw the figure from {VALUES.relative_to(ROOT)}, no trace needed",
    )
    args = parser.parse_args(argv)
    if args.replot:
        print(f"redrew {replot(VALUES, args.figure)}")
        return
    if args.trace is None:
        parser.error("give a trace, or --replot")

    tree = load_trace(args.trace)
    pit = az.loo_pit(tree)["y"].values
    ks = stats.kstest(pit, "uniform")
    observed = tree["observed_data"]["y"]
    replicated = tree["posterior_predictive"]["y"]
    classes = tree["posterior"]["class"].values
    labels = tree["predictions_constant_data"]["y"].values
    average = tree["predictions"]["probability"].mean(("chain", "draw")).values

    print(
        f"{args.trace}: {observed.sizes['obs']} training labels, "
        f"{replicated.sizes['chain']} x {replicated.sizes['draw']} replicated draws"
    )
    print(
        f"LOO-PIT: mean {pit.mean():.3f} (uniform 0.5), sd {pit.std():.3f} (uniform 0.289), "
        f"KS distance to uniform {ks.statistic:.3f} (p = {ks.pvalue:.2f})"
    )
    for index, name in enumerate(classes):
        share = float((observed == index).mean())
        shares = (replicated == index).mean("obs")
        p_value = float((shares >= share).mean())
        print(
            f"PPC share of {name}: observed {share:.3f}, replicated {float(shares.mean()):.3f} "
            f"[{float(shares.quantile(0.03)):.3f}, {float(shares.quantile(0.97)):.3f}], "
            f"p = {p_value:.2f}"
        )
    print(
        f"test set: expected calibration error of the predictive average "
        f"{expected_calibration_error(average, labels):.3f} "
        f"({labels.size} samples, 5 bins)"
    )

    values = pareto_loo_pit(tree)
    save_dataset(values, VALUES)
    plot_loo_pit(values, args.figure)
    print(f"wrote {VALUES} and {args.figure}")


if __name__ == "__main__":
    main()

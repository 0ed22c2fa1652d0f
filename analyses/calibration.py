"""Calibration of a training run: LOO-PIT of the training labels, a posterior predictive check
of the class shares, and the reliability of the test-set predictive probabilities.

    .venv/bin/limprob train --out runs/x.nc
    .venv/bin/python analyses/calibration.py runs/x.nc        # writes docs/calibration_loo_pit.png

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

import arviz as az  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from limprob.io import load_trace  # noqa: E402

FIGURE = Path("docs/calibration_loo_pit.png")


def expected_calibration_error(probability: np.ndarray, labels: np.ndarray, bins: int = 5):
    """ECE of class probabilities (obs, class) against labels, over equal-width bins of the
    top-class probability."""
    top = probability.max(axis=-1)
    correct = probability.argmax(axis=-1) == labels
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(top, edges[1:-1]), 0, bins - 1)
    return float(sum(abs(correct[which == b].mean() - top[which == b].mean()) * np.mean(which == b)
                     for b in range(bins) if np.any(which == b)))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace", help="a trace written by limprob train")
    parser.add_argument("--figure", default=str(FIGURE), help="LOO-PIT figure to write (PNG)")
    args = parser.parse_args(argv)

    tree = load_trace(args.trace)
    pit = az.loo_pit(tree)["y"].values
    ks = stats.kstest(pit, "uniform")
    observed = tree["observed_data"]["y"]
    replicated = tree["posterior_predictive"]["y"]
    classes = tree["posterior"]["class"].values
    labels = tree["predictions_constant_data"]["y"].values
    average = tree["predictions"]["probability"].mean(("chain", "draw")).values

    print(f"{args.trace}: {observed.sizes['obs']} training labels, "
          f"{replicated.sizes['chain']} x {replicated.sizes['draw']} replicated draws")
    print(f"LOO-PIT: mean {pit.mean():.3f} (uniform 0.5), sd {pit.std():.3f} (uniform 0.289), "
          f"KS distance to uniform {ks.statistic:.3f} (p = {ks.pvalue:.2f})")
    for index, name in enumerate(classes):
        share = float((observed == index).mean())
        shares = (replicated == index).mean("obs")
        p_value = float((shares >= share).mean())
        print(f"PPC share of {name}: observed {share:.3f}, replicated {float(shares.mean()):.3f} "
              f"[{float(shares.quantile(0.03)):.3f}, {float(shares.quantile(0.97)):.3f}], "
              f"p = {p_value:.2f}")
    print(f"test set: expected calibration error of the predictive average "
          f"{expected_calibration_error(average, labels):.3f} "
          f"({labels.size} samples, 5 bins)")

    plot = az.plot_loo_pit(tree)
    plot.savefig(args.figure, dpi=110, bbox_inches="tight")
    plt.close("all")
    print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()

"""Data efficiency: test accuracy vs the fraction of training data used, on strength-1 chips,
MH vs backprop (ideal model and in the loop), five chip seeds.

    .venv/bin/python analyses/data_efficiency.py [--workers 2] [--scheduler tcp://H:P]

Writes results/data_efficiency.nc, .png and .md.
"""

from __future__ import annotations

import sys

import numpy as np

from _study_report import run_analysis, wall_time_line
from limprob.study import Grid, StudySettings, pick, summary_table

FRACTIONS = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
GRID = Grid(strengths=(1.0,), seeds=(0, 1, 2, 3, 4), train_fractions=FRACTIONS)
SETTINGS = StudySettings()
TARGET = 0.9


def smallest_fraction(study, method: str, target: float = TARGET) -> float:
    """The smallest training fraction at which the mean test accuracy reaches ``target``
    (NaN if none does)."""
    mean = pick(study["test_accuracy"], method=method).isel(strength=0).mean("seed")
    reached = mean["train_fraction"].values[mean.values >= target]
    return float(reached.min()) if reached.size else float("nan")


def report(study) -> str:
    n_train = 455  # the Wisconsin training split (80 % of 569)
    lines = [
        "# Data efficiency on a strength-1 chip",
        "",
        f"Test accuracy on the chip, mean ± sd over {study.sizes['seed']} chip seeds, against "
        f"the fraction of the {n_train}-sample training split used (stratified subsample; the "
        "test split is the same for every fraction). Settings as in accuracy_vs_distortion.",
        "",
        summary_table(study, over="train_fraction"),
        "",
    ]
    needed = {m: smallest_fraction(study, m) for m in study["method"].values}
    for method, fraction in needed.items():
        lines.append(
            f"- {method}: smallest fraction reaching {TARGET:.0%} mean accuracy: "
            + (
                "not reached"
                if np.isnan(fraction)
                else f"{fraction:g} (~{max(2, round(fraction * n_train))} samples)"
            )
        )
    if "backprop" in needed and "mh" in needed:
        mh, bp = needed["mh"], needed["backprop"]
        if np.isnan(mh):
            ratio = "MH does not reach the target"
        elif np.isnan(bp):
            ratio = (
                f"backprop never reaches it, so the ratio is > {1.0 / mh:g} (bounded by the grid)"
            )
        else:
            ratio = f"{bp / mh:g}x"
        lines.append(f"- data-efficiency ratio (backprop's fraction / MH's): {ratio}")
    lines += ["", wall_time_line(study)]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    return run_analysis(
        "data_efficiency",
        __doc__.split("\n\n")[0],
        GRID,
        SETTINGS,
        report,
        "train_fraction",
        "Data efficiency, strength 1",
        log_x=True,
        argv=argv,
    )


if __name__ == "__main__":
    sys.exit(main())

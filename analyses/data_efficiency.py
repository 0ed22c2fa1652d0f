"""Data efficiency: test accuracy vs the fraction of training data used, on strength-1 chips,
MH vs backprop (ideal model and in the loop), five chip seeds.

    .venv/bin/python analyses/data_efficiency.py [--workers 2] [--scheduler tcp://H:P]

Writes results/data_efficiency.nc, .png and .md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from _study_report import plot

from limprob.errors import LimprobError
from limprob.study import pick, Grid, StudySettings, run_study, summary_table

RESULTS = Path(__file__).resolve().parent / "results"
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
        lines.append(f"- {method}: smallest fraction reaching {TARGET:.0%} mean accuracy: "
                     + ("not reached" if np.isnan(fraction)
                        else f"{fraction:g} (~{max(2, round(fraction * n_train))} samples)"))
    if "backprop" in needed and "mh" in needed:
        mh, bp = needed["mh"], needed["backprop"]
        if np.isnan(mh):
            ratio = "MH does not reach the target"
        elif np.isnan(bp):
            ratio = (f"backprop never reaches it, so the ratio is > {1.0 / mh:g} "
                     "(bounded by the grid)")
        else:
            ratio = f"{bp / mh:g}x"
        lines.append(f"- data-efficiency ratio (backprop's fraction / MH's): {ratio}")
    lines += ["", f"Study wall time {study.attrs['run_wall_seconds']:.0f} s for "
              f"{study.attrs['cells_computed']} cells computed "
              f"({study.attrs['cells_cached']} from the cache)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--scheduler", default=None)
    parser.add_argument("--out-dir", default=str(RESULTS))
    args = parser.parse_args(argv)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "data_efficiency.nc"
    try:
        study = run_study(GRID, SETTINGS, out, workers=args.workers, scheduler=args.scheduler)
    except LimprobError as error:
        print(f"data_efficiency: error: {error}", file=sys.stderr)
        return 2
    plot(study, "train_fraction", out.with_suffix(".png"), "Data efficiency, strength 1",
         log_x=True)
    text = report(study)
    out.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

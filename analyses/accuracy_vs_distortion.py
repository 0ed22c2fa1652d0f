"""Accuracy vs chip distortion: MH on the chip, ideal-model backprop and in-the-loop backprop,
strength 0 ... 2, five chip seeds (one Dask task per cell, cached in results/*.nc.cells).

    .venv/bin/python analyses/accuracy_vs_distortion.py [--workers 2] [--scheduler tcp://H:P]

Writes results/accuracy_vs_distortion.nc, .png and .md.
"""

from __future__ import annotations

import sys

from _study_report import run_analysis, wall_time_line
from limprob.study import Grid, StudySettings, pick, summary_table

GRID = Grid(strengths=(0.0, 0.5, 1.0, 1.5, 2.0), seeds=(0, 1, 2, 3, 4), train_fractions=(1.0,))
SETTINGS = StudySettings()


def report(study) -> str:
    accuracy = study["test_accuracy"].isel(train_fraction=0)
    mean = accuracy.mean("seed")
    strongest = float(study["strength"].max())
    lines = [
        "# Accuracy vs chip distortion",
        "",
        f"Test accuracy on the chip, mean ± sd over {study.sizes['seed']} chip seeds (each seed "
        "is also the data split and training seed). MH: blocked Metropolis, "
        f"{study.attrs['setting_mh_chains']} chains x ({study.attrs['setting_mh_tune']} tune + "
        f"{study.attrs['setting_mh_draws']} draws), accuracy of W*; backprop: surrogate-gradient "
        f"BPTT, at most {study.attrs['setting_backprop_epochs']} epochs with early stopping. "
        f"Network 30-{study.attrs['setting_mh_network_n_hidden']}-2, "
        f"{study.attrs['setting_mh_network_n_steps']} steps.",
        "",
        summary_table(study, over="strength"),
        "",
        "MH posterior-predictive accuracy: "
        + ", ".join(
            f"{s:g}: {v:.3f}"
            for s, v in zip(
                study["strength"].values,
                pick(study["test_accuracy_predictive"], method="mh")
                .isel(train_fraction=0)
                .mean("seed")
                .values,
            )
        ),
        "",
    ]
    if {"mh", "backprop"} <= set(study["method"].values):
        for other in ("backprop", "in_the_loop_backprop"):
            if other not in study["method"].values:
                continue
            gap = pick(accuracy, method="mh") - pick(accuracy, method=other)
            per_seed = ", ".join(f"{100 * v:+.1f}" for v in gap.sel(strength=strongest).values)
            lines.append(
                f"- MH minus {other} at strength {strongest:g}: "
                f"{100 * float(gap.sel(strength=strongest).mean()):+.1f} points "
                f"(per seed {per_seed}); largest mean gap over strengths "
                f"{100 * float(gap.mean('seed').max()):+.1f} points."
            )
        mh = pick(mean, method="mh")
        drop = mh.sel(strength=0.0) - mh.sel(strength=strongest)
        lines.append(
            f"- MH at strength {strongest:g} vs strength 0: {-100 * float(drop):+.1f} points."
        )
    lines += ["", wall_time_line(study)]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    return run_analysis(
        "accuracy_vs_distortion",
        __doc__.split("\n\n")[0],
        GRID,
        SETTINGS,
        report,
        "strength",
        "Accuracy vs chip distortion",
        argv=argv,
    )


if __name__ == "__main__":
    sys.exit(main())

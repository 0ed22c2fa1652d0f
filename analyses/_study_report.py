"""Figure and table of a limprob study (shared by the study analyses)."""

from __future__ import annotations

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from limprob.inference.figure_style import (
    DATASET_LABELS,
    LEVEL,
    METHOD_COLOURS,
    accuracy_limits,
    dataset_chance,
    draw_chance,
    interval_errorbar,
    method_label,
    save_figure,
    seed_interval,
)
from limprob.study import pick

REFERENCE_ACCURACY = 0.9
"""The accuracy the study reports are read against (data_efficiency's target)."""

AXIS_LABELS = {
    "strength": "chip distortion strength α",
    "train_fraction": "fraction of the training data used",
}


def plot(study: xr.Dataset, over: str, path, title: str, dataset: str, log_x: bool = False):
    """Mean test accuracy over chip seeds against ``over``, one line per method, with the 95 %
    percentile-bootstrap interval of that mean (:func:`seed_interval`, inside [0, 1]) and each
    seed's accuracy as a small dot, beside the data set's chance level. The methods are set
    side by side around each value of ``over``, so no bar or dot hides another's; the x ticks
    are at the values the study ran."""
    accuracy = study["test_accuracy"].squeeze(drop=True)
    fig, ax = plt.subplots(figsize=(8.4, 4.2), layout="constrained")
    x = study[over].values.astype(float)
    methods = list(study["method"].values)
    sampler = study.attrs.get("setting_sampler")

    def shifted(shift):
        return x * 10**shift if log_x else x + shift * (x.max() - x.min())

    for index, method in enumerate(methods):
        shift = (index - (len(methods) - 1) / 2) * 0.04
        values = pick(accuracy, method=method).transpose(over, "seed")
        interval_errorbar(
            ax, shifted(shift), seed_interval(values), method, method_label(method, sampler)
        )
        ax.scatter(
            np.repeat(shifted(shift + 0.012), values.sizes["seed"]),
            values.values.ravel(),
            s=9,
            color=METHOD_COLOURS[method],
            alpha=0.55,
            linewidths=0,
        )
    ax.scatter(
        [], [], s=9, color="0.4", alpha=0.55, linewidths=0, label="one chip seed (small dots)"
    )
    if log_x:
        ax.set_xscale("log")
    ax.set_xticks(x, [f"{v:g}" for v in x])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel(AXIS_LABELS[over])
    ax.set_ylabel("test accuracy on the chip")
    chance = dataset_chance(dataset)
    accuracy_limits(ax, accuracy.values, chance=chance)
    draw_chance(ax, chance)
    ax.axhline(
        REFERENCE_ACCURACY,
        color="0.6",
        lw=0.8,
        ls="--",
        label=f"reference accuracy {REFERENCE_ACCURACY:.0%}",
    )
    ax.set_title(
        f"{title}: {DATASET_LABELS.get(dataset, dataset)}, {study.sizes['seed']} chip seeds",
        fontsize=10,
    )
    ax.legend(
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        title=f"mean over seeds,\nbars: {LEVEL:.0%} bootstrap interval",
        title_fontsize=8,
    )
    save_figure(fig, path)


def one_chip_kind(study: xr.Dataset) -> xr.Dataset:
    """The study without its one-valued ``dataset``, ``noise`` and ``weight_bits`` dims (the
    analyses of distortion and data size run one data set on deterministic, continuous
    chips)."""
    single = [dim for dim in ("dataset", "noise", "weight_bits") if study.sizes.get(dim) == 1]
    return study.squeeze(single, drop=True)


def wall_time_line(study: xr.Dataset) -> str:
    return (
        f"Study wall time {study.attrs['run_wall_seconds']:.0f} s for "
        f"{study.attrs['cells_computed']} cells computed "
        f"({study.attrs['cells_cached']} from the cache)."
    )


def run_analysis(
    name: str,
    description: str,
    grid,
    settings,
    report,
    over: str,
    title: str,
    log_x: bool = False,
    argv=None,
) -> int:
    """Command-line entry shared by the study analyses: run the study ``name`` on Dask
    (cached per cell), then write ``name``.nc, .png and .md into the output folder."""
    import argparse
    import sys
    from pathlib import Path

    from limprob.errors import LimprobError
    from limprob.study import run_study

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--scheduler", default=None)
    parser.add_argument("--out-dir", default=str(Path(__file__).resolve().parent / "results"))
    parser.add_argument(
        "--replot",
        action="store_true",
        help="redraw the figure from the saved study, training nothing",
    )
    args = parser.parse_args(argv)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{name}.nc"
    if args.replot:
        with xr.open_dataset(out) as study:
            plot(study.load(), over, out.with_suffix(".png"), title, grid.datasets[0], log_x=log_x)
        print(f"redrew {out.with_suffix('.png')}")
        return 0
    try:
        study = run_study(grid, settings, out, workers=args.workers, scheduler=args.scheduler)
    except LimprobError as error:
        print(f"{name}: error: {error}", file=sys.stderr)
        return 2
    study = one_chip_kind(study)
    plot(study, over, out.with_suffix(".png"), title, grid.datasets[0], log_x=log_x)
    text = report(study)
    out.with_suffix(".md").write_text(text)
    print(text)
    return 0

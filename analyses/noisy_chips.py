"""What membrane noise and a few bits per weight do to MH and to backprop (issue 12).

Wisconsin, strength-1 chips; noise 0, 0.1, 0.2, 0.4 (units of the threshold) x 6-bit and
continuous weights x chip seeds 0, 1, 2, and the target cell (noise 0.1, 6 bits) on seeds
0 .. 4. Methods: MH pseudo-marginal (``--repeats auto``), MH with one query per estimate kept
(R = 1, pseudo-marginal but sticky), MH re-estimating the current point every step (Monte
Carlo within Metropolis, approximate), ideal-model backprop, noise-aware backprop and
in-the-loop backprop. Test accuracy on a noisy chip is the mean over 20 noisy test queries.
Every run goes through ``limprob study`` (cached per cell, so a re-run resumes).

    .venv/bin/python analyses/noisy_chips.py [--workers 2]

writes ``analyses/results/noisy_chips.{nc,png,md}``.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from limprob.errors import LimprobError
from limprob.inference.backprop import BackpropConfig
from limprob.inference.figure_style import (
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
from limprob.inference.training import EvaluationSettings, MCMCSettings, TrainConfig
from limprob.io import save_dataset
from limprob.study import Grid, StudySettings, connect, run_study

NOISES = (0.0, 0.1, 0.2, 0.4)
BITS = (6, 0)
SEEDS = (0, 1, 2)
TARGET = {"noise": 0.1, "weight_bits": 6, "seeds": (0, 1, 2, 3, 4)}
MH = TrainConfig(
    mcmc=MCMCSettings(sampler="pcn", draws=1000, tune=1000, chains=1, max_repeats=16),
    evaluation=EvaluationSettings(predictive_draws=50),
)
"""pCN, 2,000 steps on one chain per cell; auto R at most 16 queries per estimate."""
MH_VARIANTS = {
    "mh_pseudo_marginal": dict(repeats="auto"),
    "mh_one_query": dict(repeats=1),
    "mh_re_estimate": dict(repeats=1, re_estimate_current=True),
}
BACKPROPS = ("backprop", "noise_aware_backprop", "in_the_loop_backprop")
LABELS = {method: method_label(method) for method in (*MH_VARIANTS, *BACKPROPS)}


def grids(methods, noises=NOISES):
    """The sweep (seeds 0..2) and the target cell (seeds 0..4); shared cells are cached once."""
    return [
        Grid(methods=methods, strengths=(1.0,), noises=noises, weight_bits=BITS, seeds=SEEDS),
        Grid(
            methods=methods,
            strengths=(1.0,),
            noises=(TARGET["noise"],),
            weight_bits=(TARGET["weight_bits"],),
            seeds=TARGET["seeds"],
        ),
    ]


def run(out_dir: Path, workers: int | None) -> xr.Dataset:
    """Every study, on one Dask cluster; one Dataset with a ``method`` per MH variant and
    backprop method."""
    parts = []
    backprop = BackpropConfig()
    client, cluster = connect(workers=workers)
    try:
        for name, variant in MH_VARIANTS.items():
            settings = StudySettings(mh=MH, backprop=backprop, **variant)
            noises = NOISES if name == "mh_pseudo_marginal" else NOISES[1:]
            for grid in grids(("mh",), noises):
                study = run_study(grid, settings, out_dir / f"noisy_chips_{name}.nc", client=client)
                parts.append(study.assign_coords(method=[name]))
        for grid in grids(BACKPROPS):
            parts.append(
                run_study(
                    grid,
                    StudySettings(mh=MH, backprop=backprop),
                    out_dir / "noisy_chips_backprop.nc",
                    client=client,
                )
            )
    finally:
        client.close()
        cluster.close()
    combined = functools.reduce(
        lambda a, b: a.combine_first(b), [part.drop_attrs() for part in parts]
    )
    combined = combined.reindex(
        {
            "method": list(MH_VARIANTS) + list(BACKPROPS),
            "noise": list(NOISES),
            "weight_bits": list(BITS),
        }
    )
    return combined.squeeze(["dataset", "strength", "train_fraction"], drop=True)


TARGET_ACCURACY = 0.93
"""The issue's target for MH's mean test accuracy in the target cell."""


def plot(results: xr.Dataset, path: Path):
    """Accuracy against noise: columns by weight resolution, the MH variants in the top row and
    the backprops below; the mean over chip seeds 0..2 with its 95 % percentile-bootstrap
    interval (inside [0, 1]), each seed as a small dot, Wisconsin's chance level and the 93 %
    target."""
    accuracy = results["test_accuracy"].sel(seed=list(SEEDS))
    rows = (tuple(MH_VARIANTS), BACKPROPS)
    fig, axes = plt.subplots(
        len(rows), len(BITS), figsize=(10, 7.2), sharex=True, sharey=True, layout="constrained"
    )
    noises = np.asarray(NOISES)
    chance = dataset_chance("wisconsin")
    for row, methods in enumerate(rows):
        for column, bits in enumerate(BITS):
            ax = axes[row, column]
            for offset, method in enumerate(methods):
                values = accuracy.sel({"method": method, "weight_bits": bits})
                x = noises + (offset - 1) * 0.012  # side by side, not on top
                interval_errorbar(
                    ax, x, seed_interval(values.transpose("noise", "seed")), method, LABELS[method]
                )
                ax.scatter(
                    np.repeat(x + 0.004, len(SEEDS)),
                    values.transpose("noise", "seed").values.ravel(),
                    s=8,
                    alpha=0.45,
                    color=METHOD_COLOURS[method],
                    linewidths=0,
                )
            draw_chance(ax, chance, label=row == column == 0)
            ax.axhline(
                TARGET_ACCURACY,
                color="0.55",
                lw=0.9,
                ls="--",
                label=f"target {TARGET_ACCURACY:.0%} (set for noise 0.1, 6 bits)"
                if row == column == 0
                else None,
            )
            ax.set_xticks(NOISES, [f"{n:g}" for n in NOISES])
            ax.set_title(
                ("MH" if row == 0 else "backprop")
                + ", "
                + (f"{bits}-bit weights" if bits else "continuous weights"),
                fontsize=10,
            )
        axes[row, 0].set_ylabel("test accuracy on the chip\n(mean of 20 noisy test queries)")
    for ax in axes[-1]:
        ax.set_xlabel("chip membrane noise σ (units of the threshold)")
    axes[0, 0].scatter(
        [], [], s=8, alpha=0.45, color="0.3", linewidths=0, label="one chip seed (small dots)"
    )
    accuracy_limits(axes[0, 0], accuracy.values, chance=chance)
    handles = [h for ax in axes[:, 0] for h in zip(*ax.get_legend_handles_labels())]
    fig.legend(*zip(*handles), loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    fig.suptitle(
        f"Wisconsin breast cancer, strength-1 chips: mean over chip seeds "
        f"{SEEDS[0]}–{SEEDS[-1]}, bars {LEVEL:.0%} bootstrap interval of the mean",
        fontsize=10,
    )
    save_figure(fig, path)


def table(results: xr.Dataset) -> str:
    """Markdown: the target cell over 5 seeds, then the sweep."""
    target = results.sel(
        noise=TARGET["noise"], weight_bits=TARGET["weight_bits"], seed=list(TARGET["seeds"])
    )
    lines = [
        f"Target cell: noise {TARGET['noise']}, {TARGET['weight_bits']}-bit weights, "
        f"strength 1, chip seeds {', '.join(map(str, TARGET['seeds']))}.",
        "",
        "| method | test accuracy (mean ± sd) | per seed | chip queries (mean) | "
        "acceptance | log-lik. bulk ESS per 10k queries | R |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for method in results["method"].values:
        row = target.sel({"method": method})
        accuracy = row["test_accuracy"].values
        queries = row["chip_queries"].values
        ess = row["ess_bulk_log_likelihood"].values / queries * 1e4
        lines.append(
            f"| {LABELS[method]} | {np.nanmean(accuracy):.3f} ± {np.nanstd(accuracy):.3f} | "
            f"{', '.join(f'{a:.3f}' for a in accuracy)} | {np.nanmean(queries):,.0f} | "
            f"{_mean(row['acceptance_rate'].values, '.3f')} | {_mean(ess, '.1f')} | "
            f"{_mean(row['repeats'].values, '.1f')} |"
        )
    lines += [
        "",
        f"Sweep: mean test accuracy over chip seeds {', '.join(map(str, SEEDS))}.",
        "",
        "| method | bits | " + " | ".join(f"noise {n:g}" for n in NOISES) + " |",
        "| --- | --- |" + " --- |" * len(NOISES),
    ]
    sweep = results["test_accuracy"].sel(seed=list(SEEDS)).mean("seed")
    for method in results["method"].values:
        for bits in BITS:
            cells = [
                f"{v:.3f}" if np.isfinite(v) else "-"
                for v in sweep.sel({"method": method, "weight_bits": bits}).values
            ]
            lines.append(f"| {LABELS[method]} | {bits or 'cont.'} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _mean(values, fmt) -> str:
    values = np.asarray(values, dtype=float)
    return "-" if not np.isfinite(values).any() else format(np.nanmean(values), fmt)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out-dir", default=str(Path(__file__).resolve().parent / "results"))
    parser.add_argument(
        "--replot",
        action="store_true",
        help="redraw the figure from the saved noisy_chips.nc, training nothing",
    )
    args = parser.parse_args(argv)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.replot:
        with xr.open_dataset(out_dir / "noisy_chips.nc") as results:
            plot(results.load(), out_dir / "noisy_chips.png")
        print(f"redrew {out_dir / 'noisy_chips.png'}")
        return 0
    try:
        results = run(out_dir, args.workers)
    except LimprobError as error:
        print(f"noisy_chips: error: {error}", file=sys.stderr)
        return 2
    out = out_dir / "noisy_chips.nc"
    results.attrs.update(
        {
            "mh_sampler": MH.mcmc.sampler,
            "mh_draws": MH.mcmc.draws,
            "mh_tune": MH.mcmc.tune,
            "mh_chains": MH.mcmc.chains,
            "mh_max_repeats": MH.mcmc.max_repeats,
        }
    )
    save_dataset(results, out)
    plot(results, out.with_suffix(".png"))
    text = table(results)
    out.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from limprob.errors import LimprobError  # noqa: E402
from limprob.inference.backprop import BackpropConfig  # noqa: E402
from limprob.inference.training import TrainConfig  # noqa: E402
from limprob.io import save_dataset  # noqa: E402
from limprob.study import Grid, StudySettings, connect, run_study  # noqa: E402

NOISES = (0.0, 0.1, 0.2, 0.4)
BITS = (6, 0)
SEEDS = (0, 1, 2)
TARGET = {"noise": 0.1, "weight_bits": 6, "seeds": (0, 1, 2, 3, 4)}
MH = TrainConfig(sampler="pcn", draws=1000, tune=1000, chains=1, predictive_draws=50,
                 max_repeats=16)
"""pCN, 2,000 steps on one chain per cell; auto R at most 16 queries per estimate."""
MH_VARIANTS = {
    "mh_pseudo_marginal": dict(repeats="auto"),
    "mh_one_query": dict(repeats=1),
    "mh_re_estimate": dict(repeats=1, re_estimate_current=True),
}
BACKPROPS = ("backprop", "noise_aware_backprop", "in_the_loop_backprop")
LABELS = {"mh_pseudo_marginal": "MH pseudo-marginal (auto R)",
          "mh_one_query": "MH, R = 1 (kept)",
          "mh_re_estimate": "MH re-estimating (approximate)",
          "backprop": "backprop (ideal model)", "noise_aware_backprop": "noise-aware backprop",
          "in_the_loop_backprop": "in-the-loop backprop"}


def grids(methods, noises=NOISES):
    """The sweep (seeds 0..2) and the target cell (seeds 0..4); shared cells are cached once."""
    return [Grid(methods=methods, strengths=(1.0,), noises=noises, weight_bits=BITS,
                 seeds=SEEDS),
            Grid(methods=methods, strengths=(1.0,), noises=(TARGET["noise"],),
                 weight_bits=(TARGET["weight_bits"],), seeds=TARGET["seeds"])]


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
                study = run_study(grid, settings, out_dir / f"noisy_chips_{name}.nc",
                                  client=client)
                parts.append(study.assign_coords(method=[name]))
        for grid in grids(BACKPROPS):
            parts.append(run_study(grid, StudySettings(mh=MH, backprop=backprop),
                                   out_dir / "noisy_chips_backprop.nc", client=client))
    finally:
        client.close()
        cluster.close()
    combined = functools.reduce(lambda a, b: a.combine_first(b),
                                [part.drop_attrs() for part in parts])
    combined = combined.reindex({"method": list(MH_VARIANTS) + list(BACKPROPS),
                                 "noise": list(NOISES), "weight_bits": list(BITS)})
    return combined.squeeze(["dataset", "strength", "train_fraction"], drop=True)


def plot(results: xr.Dataset, path: Path):
    """Accuracy against noise, one panel per weight resolution, mean +- sd over seeds 0..2."""
    accuracy = results["test_accuracy"].sel(seed=list(SEEDS))
    fig, axes = plt.subplots(1, len(BITS), figsize=(11, 4), sharey=True, layout="constrained")
    for ax, bits in zip(axes, BITS):
        for offset, method in enumerate(results["method"].values):
            values = accuracy.sel({"method": method, "weight_bits": bits})
            mean, sd = values.mean("seed"), values.std("seed")
            x = np.asarray(NOISES) + (offset - 2.5) * 0.004  # side by side, not on top
            ax.errorbar(x, mean, yerr=sd, marker="o", capsize=3, label=LABELS[method])
        ax.set_xticks(NOISES)
        ax.set_xlabel("chip membrane noise (units of the threshold)")
        ax.set_title(f"{bits}-bit weights" if bits else "continuous weights", fontsize=10)
        ax.axhline(0.93, color="grey", lw=0.8, ls=":")
        ax.text(NOISES[-1], 0.935, "93 % target", ha="right", fontsize=7, color="grey")
    axes[0].set_ylabel("test accuracy on the chip (mean of 20 noisy queries)")
    axes[0].set_ylim(0.4, 1.0)
    axes[-1].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"Wisconsin, strength-1 chips, {len(SEEDS)} chip seeds: mean ± sd",
                 fontsize=10)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def table(results: xr.Dataset) -> str:
    """Markdown: the target cell over 5 seeds, then the sweep."""
    target = results.sel(noise=TARGET["noise"], weight_bits=TARGET["weight_bits"],
                         seed=list(TARGET["seeds"]))
    lines = [f"Target cell: noise {TARGET['noise']}, {TARGET['weight_bits']}-bit weights, "
             f"strength 1, chip seeds {', '.join(map(str, TARGET['seeds']))}.", "",
             "| method | test accuracy (mean ± sd) | per seed | chip queries (mean) | "
             "acceptance | log-lik. bulk ESS per 10k queries | R |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for method in results["method"].values:
        row = target.sel({"method": method})
        accuracy = row["test_accuracy"].values
        queries = row["chip_queries"].values
        ess = row["ess_bulk_log_likelihood"].values / queries * 1e4
        lines.append(
            f"| {LABELS[method]} | {np.nanmean(accuracy):.3f} ± {np.nanstd(accuracy):.3f} | "
            f"{', '.join(f'{a:.3f}' for a in accuracy)} | {np.nanmean(queries):,.0f} | "
            f"{_mean(row['acceptance_rate'].values, '.3f')} | {_mean(ess, '.1f')} | "
            f"{_mean(row['repeats'].values, '.1f')} |")
    lines += ["", f"Sweep: mean test accuracy over chip seeds {', '.join(map(str, SEEDS))}.",
              "", "| method | bits | " + " | ".join(f"noise {n:g}" for n in NOISES) + " |",
              "| --- | --- |" + " --- |" * len(NOISES)]
    sweep = results["test_accuracy"].sel(seed=list(SEEDS)).mean("seed")
    for method in results["method"].values:
        for bits in BITS:
            cells = [f"{v:.3f}" if np.isfinite(v) else "-"
                     for v in sweep.sel({"method": method, "weight_bits": bits}).values]
            lines.append(f"| {LABELS[method]} | {bits or 'cont.'} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _mean(values, fmt) -> str:
    values = np.asarray(values, dtype=float)
    return "-" if not np.isfinite(values).any() else format(np.nanmean(values), fmt)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out-dir", default=str(Path(__file__).resolve().parent / "results"))
    args = parser.parse_args(argv)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        results = run(out_dir, args.workers)
    except LimprobError as error:
        print(f"noisy_chips: error: {error}", file=sys.stderr)
        return 2
    out = out_dir / "noisy_chips.nc"
    results.attrs.update({"mh_sampler": MH.sampler, "mh_draws": MH.draws, "mh_tune": MH.tune,
                          "mh_chains": MH.chains, "mh_max_repeats": MH.max_repeats})
    save_dataset(results, out)
    plot(results, out.with_suffix(".png"))
    text = table(results)
    out.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Which start ``limprob train --dataset NAME`` uses by default (issue 19 item 5): a cold
start from prior draws (``init="prior"``) against the hybrid, ideal-model backprop chosen on
the chip (``init="ideal"``), and backprop through a twin fitted to 64 probe queries
(``init="twin"``), each with every other setting at ``limprob train``'s defaults (pCN, 2
chains x (1,000 tune + 1,000 draws), the data set's network), on strength-1 chips of chip
seeds 0, 1 and 2 (each also the split and the run's seed).

    .venv/bin/python analyses/init_defaults.py [--datasets digits wine] [--seeds 0 1 2]

writes ``analyses/results/init_defaults.{nc,md}``; every run is cached as JSON in
``results/init_defaults.cells/`` so a re-run resumes, and a run of some data sets or seeds
replaces their rows of the saved results and keeps the others. A run takes 3 to 70 s on
Wisconsin and wine and 0.5 to 6 minutes on digits and Yin-Yang (the twin start the longest;
the report gives the seconds per run). The saved results have chip seeds 0-4 on Wisconsin
and wine and seed 0 on digits and Yin-Yang:

    .venv/bin/python analyses/init_defaults.py --datasets wisconsin wine --seeds 0 1 2 3 4
    .venv/bin/python analyses/init_defaults.py --datasets digits yinyang --seeds 0
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import xarray as xr

from limprob.chip.settings import ChipSettings
from limprob.data import DATASETS, load_dataset
from limprob.inference.training import MCMCSettings, TrainConfig, train
from limprob.io import save_dataset, write_atomically

INITS = ("prior", "ideal", "twin")
SEEDS = (0, 1, 2)
STRENGTH = 1.0
DEFAULT = MCMCSettings()
"""limprob train's sampler settings, which the runs keep."""
CONVERGENCE = ("ess_bulk_log_likelihood", "rhat_log_likelihood", "converged")
"""The function-space diagnostics of each run (:mod:`limprob.inference.diagnostics`)."""
RECORDED = (
    "test_accuracy",
    "test_accuracy_predictive",
    "chip_queries",
    "wall_seconds",
    "cpu_seconds",
    *CONVERGENCE,
)
"""What a cell records; a cached cell without all of it is run again."""


def run(dataset: str, init: str, seed: int, folder: Path) -> dict:
    """One ``limprob train`` run at the defaults (cached)."""
    path = folder / f"{dataset}_{init}_seed{seed}.json"
    if path.is_file():
        cached = json.loads(path.read_text())
        if all(name in cached for name in RECORDED):
            return cached
    config = TrainConfig.for_dataset(
        dataset,
        chip=ChipSettings(strength=STRENGTH, seed=seed),
        mcmc=MCMCSettings(seed=seed, init=init),
    )
    wall, cpu = time.perf_counter(), time.process_time()
    tree = train(config, load_dataset(dataset), progressbar=False)
    attrs = tree.attrs
    result = {
        "test_accuracy": float(attrs["test_accuracy_posterior_mean"]),
        "test_accuracy_predictive": float(attrs["test_accuracy_predictive"]),
        "chip_queries": float(
            attrs["training_chip_queries"]
            + attrs.get("start_selection_chip_queries", 0)
            + attrs.get("start_twin_probe_chip_queries", 0)
        ),
        "start": str(attrs.get("start_per_chain", "")),
        **{name: float(attrs[name]) for name in CONVERGENCE},
        "wall_seconds": time.perf_counter() - wall,
        "cpu_seconds": time.process_time() - cpu,
    }
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda name: Path(name).write_text(json.dumps(result, indent=1)))
    return result


def report(results: xr.Dataset) -> str:
    """Markdown: per data set and start, W*'s and the predictive test accuracy (mean ± sd
    over seeds, and per seed), and which start wins."""
    lines = [
        "# Default start per data set: cold start, the hybrid and the twin",
        "",
        f"`limprob train --dataset NAME --init prior|ideal|twin` with every other option at "
        f"its default ({DEFAULT.sampler}, {DEFAULT.chains} chains x "
        f"({DEFAULT.tune} tune + {DEFAULT.draws} draws)), strength-"
        f"{STRENGTH:g} chips, chip seeds {', '.join(map(str, results['seed'].values))}. "
        f"Test accuracy on the chip of W* (posterior mean of the best chain) and the "
        f"posterior-predictive accuracy; chip queries include the choosing and probe "
        f"queries; the bulk ESS and R-hat of the training log-likelihood (median over the "
        f"seeds) and how many runs' function-space diagnostics pass (ESS >= 100, R-hat "
        f"<= 1.05, `limprob.inference.diagnostics`). Runs that do not pass are not posterior "
        f"summaries but what the budget buys. A dash: not run.",
        "",
        "| data set | start | W* (mean ± sd) | W* per seed | predictive | chip queries | "
        "wall s per run | bulk ESS | R-hat | converged |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for dataset in results["dataset"].values:
        for init in INITS:
            cell = results.sel(dataset=dataset, init=init)
            acc = cell["test_accuracy"].dropna("seed")
            if not acc.size:
                continue
            ran = cell.sel(seed=acc["seed"])
            lines.append(
                f"| {dataset} | {init} | {float(acc.mean()):.3f} ± {float(acc.std()):.3f} | "
                + ", ".join(f"{v:.3f}" for v in cell["test_accuracy"].values).replace("nan", "–")
                + f" | {float(ran['test_accuracy_predictive'].mean()):.3f} | "
                f"{float(ran['chip_queries'].mean()):,.0f} | "
                f"{float(ran['wall_seconds'].mean()):.0f} | "
                f"{float(ran['ess_bulk_log_likelihood'].median()):.0f} | "
                f"{float(ran['rhat_log_likelihood'].median()):.2f} | "
                f"{int(ran['converged'].sum())} of {acc.size} |"
            )
    lines += [
        "",
        "Each start minus prior, mean W* accuracy over the seeds both ran (what "
        "`limprob train --dataset NAME` starts from by default is "
        "`limprob.models.defaults.DATASET_INITS`):",
        "",
    ]
    for dataset in results["dataset"].values:
        acc = results["test_accuracy"].sel(dataset=dataset)
        gaps = []
        for init in INITS[1:]:
            paired = (acc.sel(init=init) - acc.sel(init="prior")).dropna("seed")
            if paired.size:
                gaps.append(
                    f"{init} minus prior {100 * float(paired.mean()):+.1f} points (n={paired.size})"
                )
        lines.append(f"- {dataset}: " + "; ".join(gaps) + ".")
    return "\n".join(lines) + "\n"


def merged_with_saved(results: xr.Dataset, path: Path) -> xr.Dataset:
    """``results`` over the saved ones at ``path`` (if any): a run of some data sets or seeds
    replaces those rows and keeps the others, in the saved order then the new."""
    if not path.is_file():
        return results
    with xr.open_dataset(path) as saved:
        saved = saved.load()
    merged = results.combine_first(saved)
    order = {
        dim: list(dict.fromkeys([*saved[dim].values.tolist(), *results[dim].values.tolist()]))
        for dim in ("dataset", "init", "seed")
    }
    return merged.sel(order)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--out-dir", default=str(Path(__file__).resolve().parent / "results"))
    args = parser.parse_args(argv)
    out_dir = Path(args.out_dir)
    folder = out_dir / "init_defaults.cells"
    shape = (len(args.datasets), len(INITS), len(args.seeds))
    values = {name: np.full(shape, np.nan) for name in RECORDED}
    for s, seed in enumerate(args.seeds):  # seed 0 of every data set first
        for d, dataset in enumerate(args.datasets):
            for i, init in enumerate(INITS):
                result = run(dataset, init, seed, folder)
                print(dataset, init, seed, result, flush=True)
                for name in RECORDED:
                    values[name][d, i, s] = result[name]
    results = xr.Dataset(
        {n: (("dataset", "init", "seed"), v) for n, v in values.items()},
        coords={"dataset": args.datasets, "init": list(INITS), "seed": args.seeds},
    )
    results = merged_with_saved(results, out_dir / "init_defaults.nc")
    save_dataset(results, out_dir / "init_defaults.nc")
    text = report(results)
    (out_dir / "init_defaults.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
